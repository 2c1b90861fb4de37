"""What every sample-mail builder shares: the draft it returns, amounts, dates, numbers and money formats."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from random import Random

from receipt_sync.samples.truth import Truth

CENT = Decimal("0.01")
VAT_RATES = {"USD": Decimal("0.08"), "EUR": Decimal("0.19"), "GBP": Decimal("0.20"), "ILS": Decimal("0.18")}


@dataclass(frozen=True)
class Draft:
    """A built message before the generator adds Message-ID, Date and To."""

    sender_name: str
    sender_addr: str
    subject: str
    entity: bytes
    truth: Truth
    sent_at: datetime
    header_charset: str = "utf-8"
    labels: tuple[str, ...] = field(default=("INBOX", "CATEGORY_UPDATES"))
    extra_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Bill:
    """The numbers on one receipt: line items, subtotal, tax and total (negative for a credit note)."""

    lines: tuple[tuple[str, int, Decimal], ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def local_time(when: datetime, utc_offset: int) -> datetime:
    """`when` on the sender's clock, for the Date header and the document date."""
    return when.astimezone(timezone(timedelta(hours=utc_offset)))


def boundary(rng: Random) -> str:
    return f"=_part_{rng.getrandbits(64):016x}"


def make_bill(rng: Random, items: tuple[str, ...], currency: str, *, sign: int = 1) -> Bill:
    """Between one and four priced items plus VAT/sales tax; `sign=-1` for refunds."""
    lines = []
    for name in rng.sample(items, k=rng.randint(1, min(4, len(items)))):
        unit = Decimal(rng.randint(150, 60000)) / 100
        lines.append((name, rng.choice((1, 1, 1, 2, 3)), unit))
    subtotal = sum((qty * unit for _, qty, unit in lines), Decimal(0)).quantize(CENT)
    tax = (subtotal * VAT_RATES[currency]).quantize(CENT)
    total = subtotal + tax
    return Bill(tuple(lines), subtotal * sign, tax * sign, total * sign)


def money(amount: Decimal, currency: str, style: int = 0) -> str:
    """`amount` as a sender would write it: symbol or code, European decimal comma for EUR."""
    sign = "-" if amount < 0 else ""
    plain = f"{abs(amount):,.2f}"
    if currency == "EUR":
        euro = plain.replace(",", " ").replace(".", ",").replace(" ", ".")
        return (f"{sign}{euro} €", f"{sign}€{euro}", f"EUR {sign}{euro}")[style % 3]
    if currency == "ILS":
        return (f"{sign}₪{plain}", f"{sign}{plain} ₪", f"ILS {sign}{plain}")[style % 3]
    symbol = {"USD": "$", "GBP": "£"}[currency]
    return (f"{sign}{symbol}{plain}", f"{currency} {sign}{plain}", f"{sign}{symbol}{plain}")[style % 3]


def doc_date(when: datetime, currency: str, style: int = 0) -> str:
    """The document date in a format usual for the currency's region."""
    if currency == "USD":
        options = (when.strftime("%B %d, %Y"), when.strftime("%m/%d/%Y"), when.strftime("%b %d, %Y"))
    elif currency == "EUR":
        options = (when.strftime("%d.%m.%Y"), when.strftime("%d %B %Y"), when.strftime("%Y-%m-%d"))
    else:
        options = (when.strftime("%d/%m/%Y"), when.strftime("%d %b %Y"), when.strftime("%Y-%m-%d"))
    return options[style % 3]


def document_number(rng: Random, when: datetime) -> str:
    """An invoice/receipt number; shaped unlike order ids and phone numbers."""
    n = rng.randint(100, 99999)
    shapes = (
        f"INV-{when.year}-{n:05d}",
        f"R{rng.randint(1000000, 9999999)}",
        f"{when.year}{n:05d}",
        f"A-{n:05d}",
        f"INV{rng.randint(10000, 999999)}",
    )
    return rng.choice(shapes)


def order_id(rng: Random) -> str:
    """An order reference, a distractor next to the document number."""
    return rng.choice(
        (
            f"{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}-{rng.randint(1000000, 9999999)}",
            f"ORD-{rng.randint(100000, 999999)}",
            f"#{rng.randint(10000000, 99999999)}",
        )
    )


def phone(rng: Random, currency: str) -> str:
    """A support phone number in the vendor's region, another distractor."""
    if currency == "ILS":
        return f"0{rng.choice((3, 4, 8, 9))}-{rng.randint(5000000, 9999999)}"
    if currency == "GBP":
        return f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    if currency == "EUR":
        return f"+49 30 {rng.randint(100000, 999999)}"
    return f"+1 ({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999):04d}"


def company_number(rng: Random) -> str:
    """An Israeli company/VAT number (ח.פ. / ע.מ.), nine digits."""
    return f"51{rng.randint(1000000, 9999999)}"


def _tiny_png() -> bytes:
    """A valid 2x2 PNG, the vendor logo that HTML receipts embed as an inline `cid:` image."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x1f\x4e\x79" * 2 + b"\x00" + b"\xf2\xa9\x00" * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


LOGO_PNG = _tiny_png()
