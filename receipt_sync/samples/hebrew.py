"""Hebrew receipts: חשבונית מס, קבלה and חשבונית מס קבלה, as text, right-to-left HTML or a PDF attachment,
in windows-1255, iso-8859-8 or UTF-8 with 8bit, quoted-printable or base64 transfer encoding.

iso-8859-8 has no ₪, so mail in it writes ש"ח or ILS, as real senders do. Company numbers (ח.פ.), phone
numbers and order numbers sit next to the document number."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from random import Random

from receipt_sync.samples import _mime, pdfs
from receipt_sync.samples._common import Bill, Draft, boundary, company_number, local_time, make_bill, phone
from receipt_sync.samples.truth import Truth
from receipt_sync.samples.vendors import HEBREW_VENDORS, Vendor

TITLES = {
    "hebrew-tax-invoice": "חשבונית מס",
    "hebrew-receipt": "קבלה",
    "hebrew-tax-invoice-receipt": "חשבונית מס קבלה",
}
CHARSETS = ("windows-1255", "iso-8859-8", "utf-8")
ENCODINGS = ("quoted-printable", "base64", "8bit")


@dataclass(frozen=True)
class HeCtx:
    vendor: Vendor
    local: datetime
    bill: Bill
    number: str
    company: str
    phone: str
    order: str
    charset: str
    style: int

    def money(self, amount: Decimal) -> str:
        """₪ before or after, ש"ח, or ILS; never ₪ in iso-8859-8, which cannot encode it."""
        plain = f"{amount:,.2f}"
        styles = [f'{plain} ש"ח', f"ILS {plain}", f"₪{plain}", f"{plain} ₪"]
        usable = styles[:2] if self.charset == "iso-8859-8" else styles
        return usable[self.style % len(usable)]

    @property
    def date_text(self) -> str:
        return self.local.strftime(("%d/%m/%Y", "%d.%m.%Y")[self.style % 2])

    def truth(self, kind: str) -> Truth:
        total = str(self.bill.total)
        return Truth(True, self.vendor.name, total, "ILS", self.local.date().isoformat(), self.number, "he", kind)


def _ctx(rng: Random, when: datetime) -> HeCtx:
    vendor = rng.choice(HEBREW_VENDORS)
    local = local_time(when, vendor.utc_offset)
    bill = make_bill(rng, vendor.items, "ILS")
    number = str(rng.randint(10000, 99999))
    order = str(rng.randint(100000, 999999))
    own = Random(vendor.domain)  # a business keeps its company number and phone
    return HeCtx(
        vendor, local, bill, number, company_number(own), phone(own, "ILS"), order,
        rng.choice(CHARSETS), rng.randint(0, 3),
    )  # fmt: skip


def _lines(ctx: HeCtx, title: str) -> list[str]:
    """The document in logical order, one line each."""
    head = [ctx.vendor.name, f"ח.פ. {ctx.company} | טלפון: {ctx.phone}", ""]
    head += [f"{title} מספר {ctx.number}", f"תאריך: {ctx.date_text}", "לכבוד: דנה לוי", ""]
    items = [f"{name} x{qty}  {ctx.money(unit * qty)}" for name, qty, unit in ctx.bill.lines]
    if title == "קבלה":
        tail = [f"התקבל תשלום בסך {ctx.money(ctx.bill.total)}", "אמצעי תשלום: כרטיס אשראי"]
        tail.append(f'סה"כ שולם: {ctx.money(ctx.bill.total)}')
    else:
        tail = [f'סכום לפני מע"מ: {ctx.money(ctx.bill.subtotal)}', f'מע"מ 18%: {ctx.money(ctx.bill.tax)}']
        tail.append(f'סה"כ לתשלום: {ctx.money(ctx.bill.total)}')
    footer = ["", f"מספר הזמנה: {ctx.order}", f"תודה שבחרתם ב{ctx.vendor.name}!"]
    return head + items + [""] + tail + footer


def _html(lines: list[str]) -> str:
    body = "".join(f"<p>{line}</p>" if line else "<br>" for line in lines)
    return f'<html dir="rtl" lang="he"><head><title>{lines[0]}</title></head><body>{body}</body></html>'


def _sender(ctx: HeCtx) -> tuple[str, str]:
    return ctx.vendor.name, f"invoices@{ctx.vendor.domain}"


def body_receipt(kind: str) -> Callable[[Random, datetime], Draft]:
    """A builder of Hebrew receipts of `kind` (one of TITLES) in the mail body, text or RTL HTML."""

    def build(rng: Random, when: datetime) -> Draft:
        ctx = _ctx(rng, when)
        title = TITLES[kind]
        lines = _lines(ctx, title)
        cte = rng.choice(ENCODINGS)
        text = _mime.text_part("plain", "\n".join(lines), ctx.charset, cte)
        if rng.random() < 0.6:
            html = _mime.text_part("html", _html(lines), ctx.charset, cte)
            text = _mime.multipart("alternative", [text, html], boundary(rng))
        subject = f"{title} {ctx.number} מאת {ctx.vendor.name}"
        return Draft(*_sender(ctx), subject, text, ctx.truth(kind), ctx.local, ctx.charset)

    return build


def pdf_receipt(rng: Random, when: datetime) -> Draft:
    """A short Hebrew cover mail with the tax invoice as a PDF attachment (Hebrew file name, RFC 2231)."""
    ctx = _ctx(rng, when)
    title = rng.choice(("חשבונית מס", "חשבונית מס קבלה"))
    pdf = pdfs.hebrew_invoice(
        vendor=ctx.vendor.name, title=title, company=ctx.company, phone=ctx.phone,
        number=ctx.number, date_text=ctx.local.strftime("%d/%m/%Y"), bill=ctx.bill,
    )  # fmt: skip
    cover = f"שלום דנה,\n\nמצורפת {title} מספר {ctx.number}.\n\nבברכה,\n{ctx.vendor.name}\n"
    parts = [_mime.text_part("plain", cover, ctx.charset, rng.choice(ENCODINGS))]
    parts.append(_mime.attachment("application/pdf", pdf, f"{title} {ctx.number}.pdf"))
    entity = _mime.multipart("mixed", parts, boundary(rng))
    subject = f"{title} {ctx.number} - {ctx.vendor.name}"
    return Draft(*_sender(ctx), subject, entity, ctx.truth("hebrew-pdf-invoice"), ctx.local, ctx.charset)
