"""Hard negatives: mail that talks about money but is not a receipt.

Marketing with prices (and abandoned-cart totals), shipping notices without a charge, newsletters, personal
mail about money and account statements that say they are not receipts, in English and Hebrew.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from random import Random

from receipt_sync.samples import _mime
from receipt_sync.samples._common import Draft, boundary, local_time, money, order_id
from receipt_sync.samples.truth import negative
from receipt_sync.samples.vendors import (
    ENGLISH_VENDORS,
    FRIENDS,
    HEBREW_FRIENDS,
    HEBREW_MARKETERS,
    MARKETERS,
)

PROMOTIONS = ("INBOX", "CATEGORY_PROMOTIONS")
PERSONAL = ("INBOX", "CATEGORY_PERSONAL", "IMPORTANT")


def _price(rng: Random, lo: int = 900, hi: int = 40000) -> Decimal:
    return Decimal(rng.randint(lo, hi)) / 100


def _bulk_headers(domain: str) -> tuple[tuple[str, str], ...]:
    return (("List-Unsubscribe", f"<https://{domain}/unsubscribe>"), ("Precedence", "bulk"))


def marketing(rng: Random, when: datetime) -> Draft:
    """A sale announcement or an abandoned cart: prices and even a 'total', but nothing was paid."""
    name, domain = rng.choice(MARKETERS)
    currency = rng.choice(("USD", "USD", "EUR", "GBP"))
    was, now = _price(rng, 5000), _price(rng, 900, 4900)
    offers = "".join(
        f"<li>{item}: was <s>{money(was + k, currency)}</s>, now <b>{money(now + k, currency)}</b></li>"
        for k, item in enumerate(rng.sample(("Linen throw", "Trail boots", "Smart lamp", "Face serum"), 2))
    )
    if rng.random() < 0.4:
        headline, subject = (
            f"Your cart total is {money(now, currency)} - complete your order",
            "You left something behind",
        )
    else:
        headline, subject = (
            f"Up to {rng.choice((20, 30, 40, 50))}% off everything",
            f"Last chance: sale ends {when:%A}!",
        )
    script = "<script>window.track&&track('open')</script>" if rng.random() < 0.3 else ""
    html = (
        f"<html><body>{script}<h1>{headline}</h1><ul>{offers}</ul>"
        f"<p>Free shipping on orders over {money(Decimal(50), currency)}.</p>"
        f"<a href='https://{domain}/shop'>Shop now</a>"
        f"<p><a href='https://{domain}/unsubscribe'>Unsubscribe</a></p></body></html>"
    )
    entity = _mime.text_part("html", html, "utf-8", rng.choice(("quoted-printable", "base64")))
    sent = local_time(when, -5)
    return Draft(
        name, f"news@{domain}", subject, entity, negative("marketing"), sent, "utf-8", PROMOTIONS, _bulk_headers(domain)
    )


def hebrew_marketing(rng: Random, when: datetime) -> Draft:
    """A Hebrew sale: מבצע with prices in ₪ / ש"ח."""
    name, domain = rng.choice(HEBREW_MARKETERS)
    charset = rng.choice(("windows-1255", "utf-8"))
    price = _price(rng, 1900, 49900)
    lines = [
        f"מבצע סוף עונה ב{name}!",
        f"עד {rng.choice((30, 40, 50))}% הנחה על כל הקולקציה",
        f"רק {price:,.2f} ₪ במקום {price * 2:,.2f} ₪",
    ]
    lines += ['משלוח חינם בקנייה מעל 200 ש"ח', "להסרה מרשימת התפוצה השיבו 'הסר'"]
    entity = _mime.text_part("plain", "\n".join(lines), charset, rng.choice(("quoted-printable", "base64")))
    sent = local_time(when, 2)
    return Draft(
        name, f"mivtzaim@{domain}", f"מבצע! {lines[1]}", entity, negative("marketing", "he"), sent, charset, PROMOTIONS
    )


def shipping_notice(rng: Random, when: datetime) -> Draft:
    """'Your order has shipped': an order id, a tracking number, items, but no charge."""
    vendor = rng.choice(ENGLISH_VENDORS)
    order = order_id(rng)
    items = "\n".join(f"  - {item} (qty {rng.randint(1, 3)})" for item in rng.sample(vendor.items, 2))
    tracking = f"1Z{rng.randint(100, 999)}AA1{rng.randint(10**9, 10**10 - 1)}"
    text = (
        f"Good news! Your order {order} has shipped.\n\nItems in this shipment:\n{items}\n\n"
        f"Carrier: UPS\nTracking number: {tracking}\nEstimated delivery: {rng.randint(2, 6)} business days\n\n"
        f"You were charged when your order was placed; this is not a receipt.\n{vendor.name}\n"
    )
    entity = _mime.text_part("plain", text, "utf-8", "7bit")
    sent = local_time(when, vendor.utc_offset)
    return Draft(
        vendor.name,
        f"shipping@{vendor.domain}",
        f"Your order {order} has shipped",
        entity,
        negative("shipping-notice"),
        sent,
    )


def newsletter(rng: Random, when: datetime) -> Draft:
    """A newsletter: long prose, a pricing mention, a sponsor line."""
    name, domain = rng.choice((("The Ledger Letter", "ledgerletter.com"), ("Small Biz Weekly", "smallbizweekly.com")))
    topics = rng.sample(("cash-flow planning", "VAT deadlines", "hiring your first employee", "pricing"), 3)
    paragraphs = [f"This week: {', '.join(topics)}."]
    paragraphs += [f"On {t}: most small businesses underestimate how much time it takes. " * 3 for t in topics]
    paragraphs.append(
        f"Premium membership is {money(Decimal(rng.choice((9, 12, 15))), 'USD')}/month - upgrade anytime."
    )
    paragraphs.append(f"Sponsored by Cloudkite Hosting. Issue #{rng.randint(40, 400)}. Unsubscribe at {domain}/u")
    html = "<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
    text = "\n\n".join(paragraphs)
    parts = [
        _mime.text_part("plain", text, "utf-8", "quoted-printable"),
        _mime.text_part("html", html, "utf-8", "quoted-printable"),
    ]
    entity = _mime.multipart("alternative", parts, boundary(rng))
    sent = local_time(when, -5)
    return Draft(
        name,
        f"editor@{domain}",
        f"{name}: {topics[0]} and more",
        entity,
        negative("newsletter"),
        sent,
        "utf-8",
        ("INBOX", "CATEGORY_UPDATES"),
        _bulk_headers(domain),
    )


def personal(rng: Random, when: datetime) -> Draft:
    """A friend writing about money they owe or spent."""
    name, addr = rng.choice(FRIENDS)
    amount = _price(rng, 1000, 30000)
    text = rng.choice(
        (
            f"Hi Dana,\n\nDinner came to ${amount:.2f} in total, so your share is ${amount / 2:.2f}. No rush!\n\n"
            f"{name.split()[0]}",
            f"Hey,\n\nI sent you {money(amount, 'EUR')} for the concert tickets. Let me know it arrived.\n\n"
            f"{name.split()[0]}",
            f"Dana - can you lend me £{amount:.0f} until Friday? Total for the flat deposit was more than I thought.\n",
        )
    )
    entity = _mime.text_part("plain", text, "utf-8", rng.choice(("8bit", "quoted-printable")))
    return Draft(
        name,
        addr,
        rng.choice(("Re: dinner", "tickets", "quick favour")),
        entity,
        negative("personal"),
        local_time(when, 0),
        "utf-8",
        PERSONAL,
    )


def hebrew_personal(rng: Random, when: datetime) -> Draft:
    """A Hebrew note between friends about a transfer."""
    name, addr = rng.choice(HEBREW_FRIENDS)
    amount = rng.randint(50, 900)
    text = f'היי דנה,\n\nהעברתי לך {amount} ש"ח על הארוחה של אתמול.\nסה"כ יצא {amount * 3} ₪ לשלושתנו.\n\n{name}'
    charset = rng.choice(("windows-1255", "utf-8"))
    entity = _mime.text_part("plain", text, charset, rng.choice(("8bit", "base64", "quoted-printable")))
    return Draft(
        name, addr, "העברה על הארוחה", entity, negative("personal", "he"), local_time(when, 2), charset, PERSONAL
    )


def account_statement(rng: Random, when: datetime) -> Draft:
    """A monthly statement that says in so many words that it is not a receipt or tax invoice."""
    vendor = rng.choice(ENGLISH_VENDORS)
    cur = vendor.currency
    balance = _price(rng, 2000, 500000)
    text = (
        f"{vendor.name} - account statement for {when:%B %Y}\n\nAccount: {rng.randint(10**7, 10**8 - 1)}\n"
        f"Opening balance: {money(balance, cur)}\nPayments received: {money(balance / 2, cur)}\n"
        f"Balance due: {money(balance / 2, cur)}\n\nThis statement is not a receipt or a tax invoice. "
        "Invoices for each charge are sent separately.\n"
    )
    entity = _mime.text_part("plain", text, "utf-8", "quoted-printable")
    sent = local_time(when, vendor.utc_offset)
    return Draft(
        vendor.name,
        f"statements@{vendor.domain}",
        f"Your {when:%B} statement is ready",
        entity,
        negative("account-statement"),
        sent,
    )


def hebrew_statement(rng: Random, when: datetime) -> Draft:
    """A Hebrew account statement (דף חשבון) that says it is not a tax invoice."""
    name, domain = 'תקשורת אורות בע"מ', "orot-tikshoret.co.il"
    balance = rng.randint(100, 5000)
    text = (
        f'{name}\nדף חשבון לחודש {when:%m/%Y}\n\nיתרה לתשלום: {balance:,}.00 ש"ח\n'
        "מסמך זה אינו חשבונית מס ואינו קבלה. חשבונית מס תישלח בנפרד.\n"
    )
    charset = rng.choice(("windows-1255", "iso-8859-8"))
    entity = _mime.text_part("plain", text, charset, "quoted-printable")
    sent = local_time(when, 2)
    return Draft(
        name, f"billing@{domain}", "דף החשבון שלך מוכן", entity, negative("account-statement", "he"), sent, charset
    )
