"""English receipts: HTML and plain-text payment receipts, order confirmations, PDF and subscription
invoices and credit notes, in USD, EUR (decimal comma), GBP and ILS, with order ids and phone numbers
next to the document number so extraction has to tell them apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from random import Random

from receipt_sync.samples import _mime, pdfs
from receipt_sync.samples._common import (
    LOGO_PNG,
    Bill,
    Draft,
    boundary,
    doc_date,
    document_number,
    local_time,
    make_bill,
    money,
    order_id,
    phone,
)
from receipt_sync.samples.truth import Truth
from receipt_sync.samples.vendors import ENGLISH_VENDORS, Vendor


@dataclass(frozen=True)
class Ctx:
    """One receipt's facts, drawn once and rendered by any of the builders."""

    vendor: Vendor
    local: datetime
    bill: Bill
    number: str
    order: str
    phone: str
    style: int

    def money(self, amount: Decimal) -> str:
        return money(amount, self.vendor.currency, self.style)

    @property
    def date_text(self) -> str:
        return doc_date(self.local, self.vendor.currency, self.style)

    def truth(self, kind: str, *, number: str | None = None, has_number: bool = True) -> Truth:
        doc = (number or self.number) if has_number else None
        return Truth(
            True,
            self.vendor.name,
            str(self.bill.total),
            self.vendor.currency,
            self.local.date().isoformat(),
            doc,
            "en",
            kind,
        )


def _ctx(rng: Random, when: datetime, *, sign: int = 1) -> Ctx:
    vendor = rng.choice(ENGLISH_VENDORS)
    local = local_time(when, vendor.utc_offset)
    bill = make_bill(rng, vendor.items, vendor.currency, sign=sign)
    num = document_number(rng, local)
    return Ctx(vendor, local, bill, num, order_id(rng), phone(rng, vendor.currency), rng.randint(0, 2))


def _encoding(rng: Random, currency: str) -> tuple[str, str]:
    """A charset able to hold the currency sign, and a transfer encoding for it."""
    charset = rng.choice(("windows-1252", "iso-8859-15", "utf-8")) if currency == "EUR" else "utf-8"
    if currency == "GBP" and rng.random() < 0.3:
        charset = "iso-8859-1"
    return charset, rng.choice(("quoted-printable", "base64", "8bit", "quoted-printable"))


def _sender(ctx: Ctx, local_part: str) -> tuple[str, str]:
    return ctx.vendor.name, f"{local_part}@{ctx.vendor.domain}"


def _item_rows(ctx: Ctx) -> list[tuple[str, str]]:
    return [
        (f"{name} x{qty}", ctx.money(qty * unit * (1 if ctx.bill.total > 0 else -1)))
        for name, qty, unit in ctx.bill.lines
    ]


def _text_body(ctx: Ctx, heading: str, refs: list[str], total_label: str) -> str:
    lines = [ctx.vendor.name, "", heading, "", *refs, ""]
    lines += [f"{name:<32}{price:>14}" for name, price in _item_rows(ctx)]
    lines += ["", f"{'Subtotal':<32}{ctx.money(ctx.bill.subtotal):>14}", f"{'Tax':<32}{ctx.money(ctx.bill.tax):>14}"]
    lines += [f"{total_label:<32}{ctx.money(ctx.bill.total):>14}", ""]
    lines += [f"Questions? Call us at {ctx.phone} or reply to this email.", f"(c) {ctx.local.year} {ctx.vendor.name}"]
    return "\n".join(lines)


def _html_body(ctx: Ctx, heading: str, refs: list[str], total_label: str, logo: bool) -> str:
    rows = "".join(f"<tr><td>{n}</td><td align='right'>{p}</td></tr>" for n, p in _item_rows(ctx))
    sums = [("Subtotal", ctx.bill.subtotal), ("Tax", ctx.bill.tax)]
    rows += "".join(f"<tr><td>{k}</td><td align='right'>{ctx.money(v)}</td></tr>" for k, v in sums)
    rows += f"<tr><td><b>{total_label}</b></td><td align='right'><b>{ctx.money(ctx.bill.total)}</b></td></tr>"
    img = "<img src='cid:logo@sample' alt='logo' width='64'>" if logo else ""
    ref_html = "".join(f"<p>{r}</p>" for r in refs)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>td{padding:4px 12px;font-family:Arial}</style>"
        f"</head><body>{img}<h2>{ctx.vendor.name}</h2><h3>{heading}</h3>{ref_html}"
        f"<table>{rows}</table><p style='color:#888'>Need help? Call {ctx.phone}.</p>"
        f"<img src='https://t.{ctx.vendor.domain}/open.gif' width='1' height='1'></body></html>"
    )


def _alternative(rng: Random, ctx: Ctx, text: str, html: str, logo: bool) -> bytes:
    charset, cte = _encoding(rng, ctx.vendor.currency)
    parts = [_mime.text_part("plain", text, charset, cte), _mime.text_part("html", html, charset, cte)]
    entity = _mime.multipart("alternative", parts, boundary(rng))
    if not logo:
        return entity
    logo_part = _mime.attachment("image/png", LOGO_PNG, "logo.png", cid="logo@sample")
    return _mime.multipart("related", [entity, logo_part], boundary(rng))


def html_receipt(rng: Random, when: datetime) -> Draft:
    """A payment receipt as HTML with a plain-text alternative, sometimes with an inline logo."""
    ctx = _ctx(rng, when)
    refs = [f"Receipt number: {ctx.number}", f"Order: {ctx.order}", f"Date paid: {ctx.date_text}"]
    rng.shuffle(refs)
    refs.append(f"Paid with Visa ending in {rng.randint(1000, 9999)}")
    text = _text_body(ctx, "Receipt for your payment", refs, "Amount paid")
    logo = rng.random() < 0.4
    html = _html_body(ctx, "Receipt for your payment", refs, "Amount paid", logo)
    entity = _alternative(rng, ctx, text, html, logo)
    subject = rng.choice((f"Your receipt from {ctx.vendor.name} #{ctx.number}", f"Payment receipt {ctx.number}"))
    return Draft(*_sender(ctx, "receipts"), subject, entity, ctx.truth("html-receipt"), ctx.local)


def text_receipt(rng: Random, when: datetime) -> Draft:
    """A plain-text receipt, the kind small shops and point-of-sale systems send."""
    ctx = _ctx(rng, when)
    refs = [f"Receipt #{ctx.number}", f"Date: {ctx.date_text}", f"Store phone: {ctx.phone}"]
    body = _text_body(ctx, "Thank you for your purchase!", refs, "TOTAL")
    entity = _mime.text_part("plain", body, *_encoding(rng, ctx.vendor.currency))
    subject = f"Receipt for your purchase at {ctx.vendor.name}"
    return Draft(*_sender(ctx, "no-reply"), subject, entity, ctx.truth("text-receipt"), ctx.local)


def order_confirmation(rng: Random, when: datetime) -> Draft:
    """An order confirmation that states the amount charged; its only reference is the order id."""
    ctx = _ctx(rng, when)
    refs = [f"Order number: {ctx.order}", f"Order date: {ctx.date_text}", "Payment: charged to your card"]
    text = _text_body(ctx, "Thanks for your order!", refs, "Order total (charged)")
    html = _html_body(ctx, "Thanks for your order!", refs, "Order total (charged)", False)
    entity = _alternative(rng, ctx, text, html, False)
    subject = f"Order confirmation {ctx.order} - {ctx.vendor.name}"
    return Draft(*_sender(ctx, "orders"), subject, entity, ctx.truth("order-confirmation", has_number=False), ctx.local)


def pdf_invoice(rng: Random, when: datetime) -> Draft:
    """A short cover mail with the invoice as a PDF attachment; the numbers live in the PDF."""
    ctx = _ctx(rng, when)
    extra = (f"Order ref: {ctx.order}", f"Phone: {ctx.phone}", "Status: PAID")
    pdf = pdfs.english_invoice(
        vendor=ctx.vendor.name, title="INVOICE", number=ctx.number, date_text=ctx.date_text,
        extra=extra, bill=ctx.bill, currency=ctx.vendor.currency,
    )  # fmt: skip
    cover = f"Hello Dana,\n\nPlease find attached invoice {ctx.number}.\n\nKind regards,\n{ctx.vendor.name}\n"
    if rng.random() < 0.5:
        cover = cover.replace(".\n\nKind", f" for {ctx.money(ctx.bill.total)} (paid).\n\nKind")
    parts = [_mime.text_part("plain", cover, *_encoding(rng, ctx.vendor.currency))]
    parts.append(_mime.attachment("application/pdf", pdf, f"Invoice_{ctx.number}.pdf"))
    entity = _mime.multipart("mixed", parts, boundary(rng))
    subject = f"Invoice {ctx.number} from {ctx.vendor.name}"
    return Draft(*_sender(ctx, "billing"), subject, entity, ctx.truth("pdf-invoice"), ctx.local)


def subscription_invoice(rng: Random, when: datetime) -> Draft:
    """A monthly SaaS invoice: plan, billing period, card charged."""
    ctx = _ctx(rng, when)
    period = f"{ctx.local.strftime('%b')} {ctx.local.year}"
    refs = [f"Invoice {ctx.number}", f"Billing period: {period}", f"Invoice date: {ctx.date_text}"]
    refs.append(f"Customer ID: CUS-{rng.randint(10000, 99999)}")
    text = _text_body(ctx, "Your subscription has been renewed", refs, "Total charged")
    html = _html_body(ctx, "Your subscription has been renewed", refs, "Total charged", rng.random() < 0.3)
    entity = _alternative(rng, ctx, text, html, False)
    subject = f"[{ctx.vendor.name}] Invoice {ctx.number} for {period}"
    return Draft(*_sender(ctx, "billing"), subject, entity, ctx.truth("subscription-invoice"), ctx.local)


def credit_note(rng: Random, when: datetime) -> Draft:
    """A refund / credit note: the total is negative."""
    ctx = _ctx(rng, when, sign=-1)
    number = f"CN-{ctx.local.year}-{rng.randint(100, 9999):04d}"
    refs = [f"Credit note: {number}", f"Original order: {ctx.order}", f"Date: {ctx.date_text}"]
    text = _text_body(ctx, "Refund issued - credit note", refs, "Total refunded")
    html = _html_body(ctx, "Refund issued - credit note", refs, "Total refunded", False)
    entity = _alternative(rng, ctx, text, html, False)
    subject = f"Your refund from {ctx.vendor.name} - credit note {number}"
    return Draft(*_sender(ctx, "billing"), subject, entity, ctx.truth("credit-note", number=number), ctx.local)
