"""PDF invoices for the sample mailbox, made with fpdf2.

English invoices use the core Helvetica font and take about 0.6 ms each, so they are drawn fresh. Hebrew
invoices need an embedded TrueType font (a Latin+Hebrew subset of DejaVu Sans shipped next to this module,
see DejaVuSans-LICENSE.txt) and take ~13 ms, so each vendor/title layout is drawn once with fixed-width
Courier placeholders and later copies only swap the placeholder bytes (same length, so the xref stays valid).
fpdf2 lays Hebrew out in visual order, so PDF text extraction returns it reversed, as with real Israeli PDFs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF

from receipt_sync.samples._common import Bill

FONT_PATH = Path(__file__).with_name("DejaVuSans-HebrewLatin.ttf")
_WIDTH = 14
_FIELDS = ("DOCNO", "DATE", "SUBTOTAL", "VAT", "TOTAL")
_PLACEHOLDERS = {name: f"@{name}".ljust(_WIDTH, "@") for name in _FIELDS}
_FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def _new_pdf(created: datetime) -> FPDF:
    pdf = FPDF()
    pdf.set_compression(False)
    pdf.set_creation_date(created)
    pdf.add_page()
    return pdf


def _row(pdf: FPDF, text: str, *, size: int = 11, height: float = 7) -> None:
    pdf.set_font("Helvetica", size=size)
    pdf.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def english_invoice(
    *, vendor: str, title: str, number: str, date_text: str, extra: tuple[str, ...], bill: Bill, currency: str
) -> bytes:
    """A one-page invoice: header, references, line items, subtotal, tax and total in `currency` code."""
    pdf = _new_pdf(_FIXED_DATE)
    _row(pdf, vendor, size=16, height=10)
    _row(pdf, f"{title} {number}", size=13, height=9)
    for line in (f"Date: {date_text}", *extra, "Bill to: Dana Levi, Levi Design Studio"):
        _row(pdf, line)
    pdf.ln(4)
    for name, qty, unit in bill.lines:
        _row(pdf, f"{name}    {qty} x {unit:.2f}    {qty * unit:.2f}")
    pdf.ln(2)
    _row(pdf, f"Subtotal: {currency} {bill.subtotal:,.2f}")
    _row(pdf, f"Tax: {currency} {bill.tax:,.2f}")
    _row(pdf, f"Total: {currency} {bill.total:,.2f}", size=13, height=9)
    return bytes(pdf.output())


def hebrew_invoice(
    *, vendor: str, title: str, company: str, phone: str, number: str, date_text: str, bill: Bill
) -> bytes:
    """A Hebrew tax invoice / receipt PDF with the given numbers, from the cached layout of this vendor."""
    template = _hebrew_template(vendor, title, company, phone)
    values = {
        "DOCNO": number,
        "DATE": date_text,
        "SUBTOTAL": _amount(bill.subtotal),
        "VAT": _amount(bill.tax),
        "TOTAL": _amount(bill.total),
    }
    for name, value in values.items():
        template = template.replace(_PLACEHOLDERS[name].encode(), value.rjust(_WIDTH).encode("ascii"))
    return template


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


@lru_cache(maxsize=256)
def _hebrew_template(vendor: str, title: str, company: str, phone: str) -> bytes:
    pdf = _new_pdf(_FIXED_DATE)
    pdf.add_font("dejavu", fname=str(FONT_PATH))
    _he(pdf, vendor, size=18)
    _he(pdf, f"ח.פ. {company}   טלפון {phone}", size=10)
    _he(pdf, "לכבוד: דנה לוי, סטודיו לוי עיצוב", size=10)
    pdf.ln(4)
    _he_value(pdf, f"{title} מספר", "DOCNO")
    _he_value(pdf, "תאריך", "DATE")
    _he_value(pdf, 'סכום לפני מע"מ', "SUBTOTAL", "₪")
    _he_value(pdf, 'מע"מ 18%', "VAT", "₪")
    _he_value(pdf, 'סה"כ לתשלום', "TOTAL", 'ש"ח')
    pdf.ln(6)
    _he(pdf, "מסמך ממוחשב - תודה שקניתם אצלנו", size=9)
    return bytes(pdf.output())


def _he(pdf: FPDF, text: str, *, size: int) -> None:
    pdf.set_font("dejavu", size=size)
    pdf.cell(0, size * 0.7, text, align="R", new_x="LMARGIN", new_y="NEXT")


def _he_value(pdf: FPDF, label: str, field: str, unit: str = "") -> None:
    """A table row: the Hebrew label on the right, the value (a placeholder for now) and its unit on the left."""
    y = pdf.get_y()
    pdf.set_font("dejavu", size=12)
    pdf.set_xy(110, y)
    pdf.cell(90, 8, label, align="R")
    pdf.set_xy(20, y)
    pdf.cell(12, 8, unit, align="L")
    pdf.set_font("Courier", size=12)
    pdf.set_xy(32, y)
    pdf.cell(45, 8, _PLACEHOLDERS[field], align="R", new_x="LMARGIN", new_y="NEXT")
