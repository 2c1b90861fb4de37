"""What a mail declares about itself: schema.org markup in its HTML, JSON-LD and microdata (the markup Gmail
reads for order and reservation cards). Read before any heuristic: a declared `Order`, `Invoice` or
reservation names its total, currency, number and seller exactly. A `ParcelDelivery` alone is a shipping
notice, not a purchase record, so it is not read as one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from selectolax.lexbor import LexborHTMLParser

from receipt_sync.extract.amounts import currency_of, parse_number

RECEIPT_TYPES = frozenset(
    ["Order", "Invoice", "Reservation", "FlightReservation", "LodgingReservation", "RentalCarReservation",
     "TrainReservation", "BusReservation", "EventReservation", "FoodEstablishmentReservation", "TaxiReservation",
     "BoatReservation", "ReservationPackage"]
)  # fmt: skip
_TOTAL_KEYS = ("totalPaymentDue", "totalPrice", "price", "minimumPaymentDue")
_NUMBER_KEYS = ("orderNumber", "reservationNumber", "confirmationNumber", "identifier")
_VENDOR_KEYS = ("seller", "merchant", "provider", "broker")
MAX_JSON_CHARS = 200_000  # declared data is small; a larger script is not read
MAX_ITEMS = 50


@dataclass(frozen=True)
class Declared:
    kind: str
    total: Decimal | None
    currency: str | None
    number: str | None
    vendor: str | None


def declared_purchase(html: str | None) -> Declared | None:
    """The first Order, Invoice or reservation the HTML declares, or None."""
    if not html or "schema.org" not in html:
        return None
    tree = LexborHTMLParser(html)
    for item in [*_json_ld_items(tree), *_microdata_items(tree)][:MAX_ITEMS]:
        kind = _type_of(item)
        if kind in RECEIPT_TYPES:
            return _read(kind, item)
    return None


def _type_of(item: dict) -> str:
    kind = item.get("@type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    return str(kind).rsplit("/", 1)[-1] if kind else ""


def _json_ld_items(tree: LexborHTMLParser) -> Iterator[dict]:
    for node in tree.css('script[type="application/ld+json"]'):
        text = node.text(deep=True) or ""
        if len(text) > MAX_JSON_CHARS:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        yield from _top_level(data)


def _top_level(data: object) -> Iterator[dict]:
    """The document's own items: a list of them, or a `@graph`; nested ones (an Order inside a
    ParcelDelivery's `partOfOrder`) are properties of their parent, not declarations."""
    if isinstance(data, list):
        for entry in data:
            if isinstance(entry, dict):
                yield from _top_level(entry)
    elif isinstance(data, dict):
        graph = data.get("@graph")
        if isinstance(graph, list):
            yield from _top_level(graph)
        else:
            yield data


def _microdata_items(tree: LexborHTMLParser) -> Iterator[dict]:
    """Top-level `itemscope` elements as JSON-LD-like dicts (nested items read as nested dicts)."""
    for node in tree.css("[itemscope][itemtype]"):
        if node.attributes.get("itemprop") is None:
            yield _microdata(node, depth=0)


def _microdata(node: object, depth: int) -> dict:
    item: dict[str, object] = {"@type": (node.attributes.get("itemtype") or "").strip()}  # type: ignore[attr-defined]
    if depth > 3:
        return item
    for prop in node.css("[itemprop]"):  # type: ignore[attr-defined]
        name = prop.attributes.get("itemprop") or ""
        if name in item or getattr(_owner(prop), "mem_id", None) != node.mem_id:  # type: ignore[attr-defined]
            continue
        if "itemscope" in prop.attributes:
            item[name] = _microdata(prop, depth + 1)
        else:
            item[name] = prop.attributes.get("content") or prop.attributes.get("href") or prop.text(strip=True)
    return item


def _owner(prop: object) -> object | None:
    """The nearest enclosing itemscope of a property."""
    parent = prop.parent  # type: ignore[attr-defined]
    while parent is not None and "itemscope" not in (parent.attributes or {}):
        parent = parent.parent
    return parent


def _read(kind: str, item: dict) -> Declared:
    total, currency = _money(item)
    number = next((str(item[k]).strip() for k in _NUMBER_KEYS if isinstance(item.get(k), str | int)), None)
    return Declared(kind, total, currency, number or None, _vendor(item))


def _money(item: dict) -> tuple[Decimal | None, str | None]:
    currency = currency_of(str(item.get("priceCurrency") or "")) or None
    for key in _TOTAL_KEYS:
        value = item.get(key)
        if isinstance(value, dict):  # PriceSpecification / MonetaryAmount
            amount = value.get("price", value.get("value"))
            currency = currency_of(str(value.get("priceCurrency") or value.get("currency") or "")) or currency
            value = amount
        parsed = _decimal(value)
        if parsed is not None:
            return parsed, currency
    return None, currency


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    text = str(value).strip()
    parsed = parse_number(text.lstrip("$€£₪ ")) if text and len(text) < 40 else None
    return parsed if parsed is not None and parsed.is_finite() else None


def _vendor(item: dict) -> str | None:
    for key in _VENDOR_KEYS:
        value = item.get(key)
        if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"].strip():
            return value["name"].strip()[:200]
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None
