"""Any document a user drops in: a folder of emails, PDFs, HTML pages and text invoices syncs like an mbox.

Every vendor and document here is invented for these tests.
"""

from __future__ import annotations

import json
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

from fpdf import FPDF
from typer.testing import CliRunner

from cli import app
from receipt_sync.extract.core import extract_bytes
from receipt_sync.mail.files import FilesSource
from receipt_sync.pipeline import AnalysedMessage, analyse_message
from receipt_sync.samples import generate_messages

TEXT_INVOICE = """INVOICE INV-20931
Bramble & Finch Ltd
Date: 2026-03-02
Consulting, March          1,200.00 EUR
Amount due: 1,428.00 EUR
"""
HTML_RECEIPT = """<html><body><h1>Receipt</h1><p>Harbour Kayaks Ltd - thank you for your purchase, order #HK-4410</p>
<table><tr><td>Total</td><td>Tip</td></tr><tr><td>$64.00</td><td>$6.00</td></tr></table></body></html>"""


def _pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in (
        "Werkstatt Lindenhof GmbH",
        "Rechnung Nr. WL-2026-0412",
        "Datum: 03.03.2026",
        "Gesamtbetrag: 119,00 EUR",
    ):
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.dat").write_text(TEXT_INVOICE)  # judged by content: the name says nothing
    (folder / "page.bin").write_text(HTML_RECEIPT)
    (folder / "sub" / "scan").write_bytes(_pdf())
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # no document: not listed
    receipt = next(m for m in generate_messages(40, seed=5) if m.truth.is_receipt)
    (folder / "mail.eml").write_bytes(receipt.raw)
    return folder


def test_every_document_in_a_folder_is_listed_fetched_and_read_as_a_receipt(tmp_path: Path) -> None:
    source = FilesSource(_folder(tmp_path), page_size=2)
    ids: list[str] = []
    token = None
    while True:
        page = source.list_messages(page_token=token)
        ids += page.message_ids
        if page.next_page_token is None:
            break
        token = page.next_page_token
    analysed = [analyse_message(m, max_attachment_bytes=10**7) for m in source.fetch_messages(ids)]

    assert len(ids) == 4 and all(isinstance(a, AnalysedMessage) for a in analysed)
    found = {(a.extraction.total, a.extraction.currency) for a in analysed if a.extraction.is_receipt}  # type: ignore[union-attr]
    assert {(Decimal("1428.00"), "EUR"), (Decimal("64.00"), "USD"), (Decimal("119.00"), "EUR")} <= found
    assert len(found) == 4


def test_import_mbox_takes_a_folder_of_documents(
    settings_env: dict[str, str], prefect_api_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    business = runner.invoke(app, ["business", "create", "--name", "Dropper"]).stdout.strip()
    result = runner.invoke(app, ["import-mbox", str(_folder(tmp_path)), "--business", business])
    assert result.exit_code == 0, result.output
    exported = json.loads(runner.invoke(app, ["export", "--business", business, "--format", "json"]).stdout)
    assert {r["total"] for r in exported} >= {"1428.00", "64.00", "119.00"}


def test_a_text_invoice_with_a_date_line_is_read_as_a_document_not_refused_as_headerless_mail() -> None:
    result = extract_bytes(TEXT_INVOICE.encode(), filename="invoice.txt")
    assert result.is_receipt and (result.total, result.currency) == (Decimal("1428.00"), "EUR")


UBL = """<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2">
 <cbc:ID>RE-7781</cbc:ID><cbc:IssueDate>2026-02-27</cbc:IssueDate><cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
 <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
 <cac:AccountingSupplierParty><cac:Party><cac:PartyLegalEntity><cbc:RegistrationName>Mühlbach Druck GmbH
 </cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>
 <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">357.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>"""


def test_a_bare_xrechnung_ubl_invoice_is_read_from_its_xml() -> None:
    result = extract_bytes(UBL.encode(), filename="e-rechnung")
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("357.00"), "EUR", "RE-7781")


def test_a_ubl_invoice_names_its_seller_by_legal_name_as_the_same_invoice_in_cii_would() -> None:
    with_trading_name = UBL.replace(
        "<cac:Party><cac:PartyLegalEntity>",
        "<cac:Party><cac:PartyName><cbc:Name>Druckerei am Bach</cbc:Name></cac:PartyName><cac:PartyLegalEntity>",
    )
    result = extract_bytes(with_trading_name.encode(), filename="RE-7781.xml")
    assert result.is_receipt and result.vendor == "Mühlbach Druck GmbH"


def test_an_einvoice_xml_dropped_in_a_folder_is_read_from_its_xml_whatever_its_name(tmp_path: Path) -> None:
    (tmp_path / "scan-0042.txt").write_bytes(b"\xef\xbb\xbf" + UBL.encode())  # a byte-order mark, a wrong name
    (tmp_path / "notes.xml").write_text('<?xml version="1.0"?><note><to>Total: 99.00 EUR</to></note>')
    source = FilesSource(tmp_path)
    page = source.list_messages(page_token=None)
    analysed = [analyse_message(m, max_attachment_bytes=10**7) for m in source.fetch_messages(page.message_ids)]

    invoices = [a.extraction for a in analysed if isinstance(a, AnalysedMessage) and a.extraction.is_receipt]
    assert len(page.message_ids) == 2 and len(invoices) == 1
    assert (invoices[0].total, invoices[0].currency, invoices[0].document_number, invoices[0].vendor) == (
        Decimal("357.00"), "EUR", "RE-7781", "Mühlbach Druck GmbH"
    )  # fmt: skip
    assert "machine-readable invoice" in invoices[0].reasons[0]


def test_an_email_with_an_xrechnung_attachment_takes_its_fields_from_the_xml() -> None:
    msg = EmailMessage()
    msg["From"] = "Buchhaltung <rechnung@muehlbach-druck.example>"
    msg["Subject"] = "Ihre Unterlagen"
    msg["Date"] = "Fri, 27 Feb 2026 10:00:00 +0100"
    msg.set_content("Guten Tag, anbei die Unterlagen. Betrag: 12,00 EUR")
    msg.add_attachment(UBL.encode(), maintype="application", subtype="octet-stream", filename="RE-7781")

    result = extract_bytes(msg.as_bytes())
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("357.00"), "EUR", "RE-7781")
    assert "'RE-7781' is a machine-readable invoice" in result.reasons[0]


def test_xml_that_is_no_einvoice_is_not_read_as_one() -> None:
    result = extract_bytes(b'<?xml version="1.0"?><!-- <Invoice> --><catalog><item price="9.99"/></catalog>')
    assert not result.is_receipt
