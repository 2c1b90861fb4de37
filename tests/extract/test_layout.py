"""Layout before line text: totals paired with their labels through HTML table cells and PDF columns.

Every vendor, template and amount here is invented for these tests.
"""

from __future__ import annotations

import re
from decimal import Decimal

from fpdf import FPDF

from receipt_sync.extract.core import extract_bytes
from receipt_sync.extract.pdf import LAYOUT_MAX_PAGES, layout_pages, read_pdf

RIDE = """<html><body><p>Thanks for riding with Zephyr Rides, Dana</p><p>Trip on March 3, 2026</p>
<table><tr><td>Total</td><td>Tip</td><td>Date</td></tr>
<tr><td>CA$23.17</td><td>CA$3.00</td><td>03/03/2026</td></tr></table>
<table><tr><td>Distance</td><td>4.2 km</td></tr><tr><td>Duration</td><td>14 min</td></tr></table>
<p>Receipt ID 7741-ABQ</p></body></html>"""

STORE = """<html><body><h1>Pinecone Hardware</h1><p>Order #PH-55120 - thank you for your purchase</p>
<table><tr><th>Item</th><th>Qty</th><th>Note</th><th>Price</th></tr>
<tr><td>Hammer</td><td>2</td><td></td><td>$19.98</td></tr>
<tr><td>Nails (box)</td><td>1</td><td></td><td>$4.50</td></tr>
<tr><td>Total:</td><td>3 items</td><td>incl. VAT</td><td>$24.48</td></tr></table>
<p>Questions? Call 555-0142</p></body></html>"""


def test_a_total_label_above_its_value_in_the_next_table_row_is_paired_by_column() -> None:
    result = extract_bytes(RIDE.encode(), filename="ride.html")
    assert result.is_receipt
    assert (result.total, result.currency) == (Decimal("23.17"), "CAD")  # not the tip beside it


def test_a_line_item_tables_total_row_takes_the_amount_in_its_last_cell() -> None:
    result = extract_bytes(STORE.encode(), filename="order.html")
    assert result.is_receipt
    assert (result.total, result.currency) == (Decimal("24.48"), "USD")


def test_a_year_a_quantity_or_a_phone_in_the_cell_after_total_is_never_the_amount() -> None:
    html = """<html><body><p>Order #QQ-1182 confirmed, thank you for your purchase</p><table>
    <tr><td>Total</td><td>3</td></tr><tr><td>Total</td><td>2026</td></tr>
    <tr><td>Total</td><td>555 0142</td></tr></table></body></html>"""
    assert extract_bytes(html.encode(), filename="order.html").total is None


def _pdf(rows: list[tuple[str, ...]]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in ("Werkstatt Lindenhof GmbH", "Rechnung Nr. WL-2026-0412", "Datum: 03.03.2026"):
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    for row in rows:
        for cell in row:
            pdf.cell(60, 8, cell)
        pdf.ln(8)
    return bytes(pdf.output())


def test_a_pdf_invoices_gross_amount_under_its_column_heading_is_the_total() -> None:
    data = _pdf([("Netto", "MwSt 19 %", "Brutto"), ("100,00 EUR", "19,00 EUR", "119,00 EUR")])
    result = extract_bytes(data, filename="scan.pdf")
    assert result.is_receipt
    assert (result.total, result.currency) == (Decimal("119.00"), "EUR")


def test_a_pdf_total_at_the_end_of_its_line_past_a_wide_gap_is_the_total() -> None:
    data = _pdf([("Leistung", "Menge", "Betrag"), ("Inspektion", "1", "80,00 EUR"), ("Gesamtsumme", "", "95,20 EUR")])
    result = extract_bytes(data, filename="scan.pdf")
    assert (result.total, result.currency) == (Decimal("95.20"), "EUR")


def _long_pdf(pages: int, total_page: int | None) -> bytes:
    """A PDF of `pages` pages of prose, each with its own marker; `total_page` also carries a total in a
    table column apart from its label (what only the layout re-read pairs)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for n in range(pages):
        pdf.add_page()
        pdf.cell(0, 8, f"Project notes, sheet marker-{n}", new_x="LMARGIN", new_y="NEXT")
        for line in range(30):
            pdf.cell(
                0, 6, f"Meeting item {line}: the team discussed the schedule at length.", new_x="LMARGIN", new_y="NEXT"
            )
        if n == total_page:
            pdf.cell(60, 8, "Betrag")
            pdf.cell(60, 8, "Gesamtsumme")
            pdf.ln(8)
            pdf.cell(60, 8, "80,00 EUR")
            pdf.cell(60, 8, "95,20 EUR")
            pdf.ln(8)
    return bytes(pdf.output())


def test_a_long_pdf_without_a_total_is_read_in_layout_mode_on_no_page() -> None:
    data = _long_pdf(8, None)
    content = read_pdf(data)
    assert content.layout is not None and content.layout().strip() == ""
    result = extract_bytes(data, filename="notes.pdf")
    assert result.total is None and not result.is_receipt


def test_a_long_pdfs_layout_re_read_takes_only_the_page_with_the_total_label() -> None:
    data = _long_pdf(5, 3)
    content = read_pdf(data)
    assert content.layout is not None
    assert re.findall(r"marker-\d", content.layout()) == ["marker-3"]
    assert extract_bytes(data, filename="statement.pdf").total == Decimal("95.20")


def test_the_layout_re_read_takes_at_most_the_last_pages_with_a_total_label() -> None:
    pages = [f"Sheet {n}\nTotal\n{n},00 EUR" for n in range(5)]
    assert layout_pages(pages) == list(range(5))[-LAYOUT_MAX_PAGES:]
    assert layout_pages(["Sheet 1\nnothing to see", "Sheet 2\nmeeting minutes"]) == []
