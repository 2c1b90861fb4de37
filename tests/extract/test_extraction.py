"""Receipt detection and field extraction as `receipts extract` reports them."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from fpdf import FPDF

from receipt_sync.extract import Extraction, extract_email, extract_file, extract_pdf
from receipt_sync.mime import parse_email
from tests.extract.test_mime import _qp_hebrew


def _mail(subject: str, body: str, *, sender: str = "Acme Store <billing@acme-store.example>",
          html: str | None = None) -> EmailMessage:  # fmt: skip
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "dana@example.com", subject
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 +0000"
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def _extract(msg: EmailMessage) -> Extraction:
    return extract_email(parse_email(msg.as_bytes()))


@pytest.mark.parametrize("charset", ["windows-1255", "iso-8859-8"])
def test_hebrew_tax_invoice_receipt_is_found_with_shekel_total(charset: str) -> None:
    result = extract_email(parse_email(_qp_hebrew(charset)))
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("117.00"), "ILS", "4471")
    assert result.vendor == "מאפיית השכונה"
    assert result.date == date(2025, 11, 24)


def test_english_html_receipt_yields_paid_total_not_subtotal_or_phone() -> None:
    html = (
        "<html><body><h1>Receipt</h1><table>"
        "<tr><td>Receipt #</td><td>RC-20931</td></tr><tr><td>Call us</td><td>(866) 216-1075</td></tr>"
        "<tr><td>Widget</td><td>$40.00</td></tr><tr><td>Subtotal</td><td>$40.00</td></tr>"
        "<tr><td>Tax</td><td>$3.40</td></tr><tr><td>Total paid</td><td>$43.40</td></tr>"
        "</table></body></html>"
    )
    msg = _mail("Your Acme Store receipt", "", sender="Acme Store Receipts <no-reply@acme-store.example>")
    msg.set_content(html, subtype="html")
    result = _extract(msg)
    assert result.is_receipt and result.confidence > 0.8
    assert (result.total, result.currency, result.document_number) == (Decimal("43.40"), "USD", "RC-20931")
    assert result.vendor == "Acme Store"
    assert any("Total paid" in reason for reason in result.reasons)


def test_european_amounts_with_decimal_commas() -> None:
    result = _extract(_mail("Ihre Rechnung RE-2026-118", "Rechnung Nr. RE-2026-118\nGesamtbetrag: 1.589,80 €"))
    assert (result.is_receipt, result.total, result.currency) == (True, Decimal("1589.80"), "EUR")


def _invoice_pdf(lines: list[str]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in lines:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_pdf_invoice_attachment_supplies_the_fields() -> None:
    pdf = _invoice_pdf([
        "Northwind Traders Ltd", "INVOICE", "Invoice number: NW-7731", "Invoice date: 14/02/2026",
        "Order number: ORD-55", "Phone: +44 20 4207 6842", "Consulting 1 x 500.00", "Subtotal: GBP 500.00",
        "VAT: GBP 100.00", "Total due: GBP 600.00",
    ])  # fmt: skip
    msg = _mail("Documents for February", "Hello, please see the attached.", sender="Northwind <ar@northwind.example>")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="NW-7731.pdf")
    result = _extract(msg)
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("600.00"), "GBP", "NW-7731")
    assert result.date == date(2026, 2, 14)
    assert any("attached PDF" in reason for reason in result.reasons)


def test_pdf_file_is_extracted_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(_invoice_pdf(["Blue Fjord AS", "RECEIPT", "Receipt no. 88120", "Amount paid: $19.99"]))
    result = extract_file(path)
    assert (result.is_receipt, result.total, result.document_number) == (True, Decimal("19.99"), "88120")


def test_credit_note_has_a_negative_total() -> None:
    result = _extract(_mail("Credit note CN-1043 for your order", "Credit note CN-1043\nRefund total: $12.50"))
    assert result.is_receipt and result.is_credit_note
    assert result.to_json()["total"] == "-12.50"


def test_marketing_mail_with_prices_is_not_a_receipt() -> None:
    body = (
        "Spring SALE - up to 50% off everything!\nRunning shoes now $59.99 (was $89.99)\n"
        "Free shipping on orders over $50. Shop now, limited time only.\nUse coupon SPRING20.\nUnsubscribe"
    )
    result = _extract(_mail("Our biggest sale of the year", body))
    assert not result.is_receipt
    assert any("promotional" in reason for reason in result.reasons)


def test_shipping_notice_without_a_charge_is_not_a_receipt() -> None:
    body = "Good news! Order #113-2114175-0259464 has shipped.\nTracking number: 1Z999AA10123456784"
    assert not _extract(_mail("Your order has shipped", body)).is_receipt


def test_statement_saying_it_is_not_a_receipt_stays_negative() -> None:
    body = "Payment reminder for invoice 5521.\nThis is not a receipt.\nAmount due: $120.00"
    result = _extract(_mail("Payment reminder: invoice 5521", body))
    assert not result.is_receipt


def test_personal_mail_about_money_is_not_a_receipt() -> None:
    body = "Hey, dinner was great. You owe me $25 for the tickets, pay me back whenever."
    assert not _extract(_mail("Re: dinner", body, sender="Noa <noa.levi@gmail.com>")).is_receipt


def test_to_json_matches_the_extract_contract() -> None:
    result = Extraction(True, 0.93, "Lyft", Decimal("2.4"), "USD", date(2026, 3, 1), "R-1", ["because"])
    payload = result.to_json()
    assert list(payload) == [
        "is_receipt", "confidence", "vendor", "total", "currency", "date", "document_number", "reasons"
    ]  # fmt: skip
    assert payload["total"] == "2.40" and payload["date"] == "2026-03-01"
    empty = Extraction(False, 0.1, None, None, None, None, None, []).to_json()
    assert empty["total"] is None and empty["date"] is None and empty["currency"] is None
    json.dumps(payload)


def test_unreadable_pdf_is_not_a_receipt_and_says_why() -> None:
    result = extract_pdf(b"%PDF-1.4 this is not really a pdf")
    assert not result.is_receipt and "could not be read" in result.reasons[0]


def test_extract_file_reports_a_malformed_email(tmp_path: Path) -> None:
    path = tmp_path / "broken.eml"
    path.write_bytes(b"From: Shop <a@shop.example>\nSubject: Receipt\n\x00\x01\x02")
    result = extract_file(path)
    assert not result.is_receipt and "could not be read" in result.reasons[0]


def test_extract_file_reads_text_that_is_no_email_as_a_document_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "note.eml"
    path.write_bytes(b"This is not a valid eml.")
    result = extract_file(path)
    assert not result.is_receipt and result.reasons[0].startswith("Judged not a receipt")


def test_extract_file_refuses_binary_data_with_one_reason(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 4)
    result = extract_file(path)
    assert not result.is_receipt and "nothing could be read" in result.reasons[0]


PLAIN_INVOICE = (
    "INVOICE\nKestrel Books Ltd\nInvoice number: KB-2026-0412\nInvoice date: 12/03/2026\n"
    "2 x Field guide 24.00 GBP\nSubtotal 48.00 GBP\nVAT 20% 9.60 GBP\nTotal due: 57.60 GBP\n"
)


@pytest.mark.parametrize("name", ["invoice.txt", "invoice.eml", "download"])
def test_extract_file_reads_a_plain_text_invoice_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(PLAIN_INVOICE)
    result = extract_file(path)
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("57.60"), "GBP", "KB-2026-0412")
    assert result.vendor == "Kestrel Books Ltd"


@pytest.mark.parametrize("name", ["receipt.html", "receipt.pdf", "receipt"])
def test_extract_file_reads_a_saved_html_receipt_whatever_its_name(tmp_path: Path, name: str) -> None:
    html = (
        "<!DOCTYPE html><html><body><h1>Receipt</h1><table><tr><td>Order number</td><td>A-5512</td></tr>"
        "<tr><td>Amount paid</td><td>$18.40</td></tr></table></body></html>"
    )
    path = tmp_path / name
    path.write_text(html)
    result = extract_file(path)
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("18.40"), "USD", "A-5512")
