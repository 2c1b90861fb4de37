"""Pick a document's total: the amount beside the strongest total-like label, in any supported language.

Strength: what was paid, charged or refunded (3) > a grand total or amount due (2) > a plain total (1).
Labels that only look like totals (subtotal, total before tax, VAT total, savings) are matched first so
they are never taken. HTML-to-text and PDF text often put the value on the next line, so the two lines
after a label are searched too.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from decimal import Decimal

from receipt_sync.extract.amounts import Money, find_money
from receipt_sync.extract.scan import lowered, word_led

_EXCLUDED = (
    r"sub[- ]?total|subtotaal|zwischensumme|sous[- ]total|total (?:before|excl\w*|ex\.?|ht|net|hors)\b|"
    r"(?:net|tax|vat|btw|mwst) total|total (?:tax(?:es)?|vat|savings?|discount|points|items?)|"
    r"summe netto|net total|totaal excl\w*|montant (?:ht|tva)|"
    r'סה"כ לפני מע"מ|סה"כ מע"מ|סכום לפני מע"מ|סה"כ ללא מע"מ|סה"כ הנחה|סה"כ פריטים|per[- ]person total|'
    # parts of the price, never what was charged: a fare before taxes, per-person, per-ticket and unit prices
    r"base fare|per (?:person|passenger|traveller|traveler|adult|ticket|night|item)|unit price"
)
_PAID = (
    r"amount paid|total paid|you paid|paid|payment amount|amount charged|we charged|charged|"
    r"billed to (?:your )?card|card payment|payment received|refund(?:ed)? amount|amount refunded|"
    # a retailer that charges at dispatch states what it charged for the parcel ("Shipment total: $27.81")
    r"shipment total|"
    # the amount charged to a payment method ("Visa ending in 4242  $338.50") is what was paid
    # (the label takes the card's last digits with it, so they are never read as the amount)
    r"(?:visa|mastercard|amex|american express|discover|paypal|apple pay|google pay)(?: ending(?: in)?)?"
    r"(?:[ \t:]*[x•*·-]*\d{4})?|"
    r"total refund(?:ed)?|refunded|bezahlt|payé|betaald|zapłacono|"
    r'סה"כ שולם|סכום ששולם|שולם|סכום החיוב|חויב|סה"כ זיכוי|סכום הזיכוי'
)
_GRAND = (
    r"grand total|total due|amount due|balance due|total amount|invoice total|order total|total price|"
    r"total cost|trip total|total charges?|total to pay|amount to pay|total \(?incl\w*\.?(?: vat| tax)?\)?|"
    r"total ttc|montant ttc|somme à payer|net à payer|total facture|montant du prélèvement|"
    r"gesamtbetrag|rechnungsbetrag|rechnungssumme|gesamtsumme|endsumme|brutto|"
    r"zahlbetrag|endbetrag|bruttobetrag|due payable|totaalbedrag|"
    r"factuur totaal|te betalen|do zapłaty|razem do zapłaty|kwota do zapłaty|"
    r'סה"כ לתשלום|סך הכל לתשלום|סכום לתשלום|סה"כ כולל מע"מ|לתשלום'
)
_TOTAL = r"total|totaal|summe|montant|bedrag|razem|suma|importe|totale|amount|betrag|kwota|סה\"כ|סך הכל|סכום"
_LABEL_PATTERN = (
    rf"(?<!\w)(?:(?P<excluded>{_EXCLUDED})|(?P<paid>{_PAID})|(?P<grand>{_GRAND})|(?P<total>{_TOTAL}))(?!\w)"
)
_LABELS = re.compile(_LABEL_PATTERN, re.IGNORECASE)
# The labels are written in lower case: on lower-cased text the case-sensitive form runs about 3x faster.
# For lower-cased text with "\n" in front: each label led by the non-word character before it, which lets
# the engine skip whole words in C.
_LABELS_LOWER = word_led(_LABEL_PATTERN.replace("(?<!\\w)", "", 1))
PRIORITY = {"paid": 3, "grand": 2, "total": 1}
_LOOKAHEAD_LINES = 2
# How far from its label an amount is looked for: windows, not whole lines, so that a line of many labels
# costs linear time (each label reading its whole line was quadratic).
_AFTER_REACH, _BEFORE_REACH = 200, 64


@dataclass(frozen=True)
class TotalCandidate:
    money: Money
    label: str
    priority: int


def find_total(lines: list[str]) -> TotalCandidate | None:
    """The best-labelled amount; ties go to a non-zero amount with a currency, then the largest."""
    text = "\n".join(lines)
    low = lowered(text)
    labels = _labels_by_line(lines, text, low)
    candidates = [c for i, found in labels.items() for c in _candidates_at(lines, labels, i, found)]
    if not candidates:
        return None
    best = max(candidates, key=rank)
    return _paid_in_points(low if low is not None else text.lower(), best) or best


# Points or miles paying for the booking: "Points redeemed 41,838 pts", "Paid with points: 20,000 miles".
_POINTS_PAID = word_led(
    r"(?P<label>(?:points|pts|avios) (?:redeemed|used|applied)|miles redeemed|redeemed (?:points|miles)|"
    r"paid (?:in full |entirely )?(?:with|in) (?:points|miles|avios))[ \t:]*\n?[ \t]*"
    r"(?P<amount>\d[\d,. ]*\s?(?:pts|points|miles|avios))(?!\w)"
)  # on lower-cased text with "\n" in front, as `_LABELS_LOWER`
# (miles "used" are a hire car's distance, not a payment)
_POINTS_WORDS = ("redeemed", "points used", "pts used", "avios used", "points applied", "pts applied", "avios applied",
                 "with points", "with miles", "with avios", "in points", "in miles", "in avios")  # fmt: skip


def _paid_in_points(lowered_text: str, best: TotalCandidate) -> TotalCandidate | None:
    """A total with no amount paid, charged or billed beside it, in a mail that redeems points, was paid in
    points: no money was spent, so the total is 0 (a part paid by card is a paid amount and wins: "Billed to
    card $98.29"). The label's strength is kept, so the verdict does not change."""
    if best.priority >= PRIORITY["paid"] or best.money.value == 0:
        return None
    if not any(word in lowered_text for word in _POINTS_WORDS):  # the pattern is costly on long mail; these are rare
        return None
    low = "\n" + lowered_text
    m = _POINTS_PAID.search(low)
    if m is None:
        return None
    zero = Money(Decimal(0), best.money.currency, m.start("amount") - 1, m.end("amount") - 1, m.group("amount"))
    return TotalCandidate(zero, m.group("label"), best.priority)


def _labels_by_line(lines: list[str], text: str, low: str | None) -> dict[int, list[tuple[str, int, int, str]]]:
    """Every label (kind, start, end, text), by line, found in one pass over the whole text (`lines` joined,
    and its `lowered` form)."""
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    found: dict[int, list[tuple[str, int, int, str]]] = {}
    for kind, start, end in _label_spans(text, low):
        index = bisect.bisect_right(starts, start) - 1
        base = starts[index]
        found.setdefault(index, []).append((kind, start - base, end - base, text[start:end]))
    return found


def _label_spans(text: str, low: str | None) -> list[tuple[str, int, int]]:
    if low is None:
        return [(m.lastgroup or "", m.start(), m.end()) for m in _LABELS.finditer(text)]
    # offsets in "\n" + low, less that "\n", are the label's own once its leading character is skipped
    return [(m.lastgroup or "", m.start(), m.end() - 1) for m in _LABELS_LOWER.finditer("\n" + low)]


def label_kinds(text: str) -> list[tuple[str, int, int]]:
    """Every label in one piece of text: (kind, start, end); kind "excluded" for look-alikes."""
    return _label_spans(text, lowered(text))


def rank(c: TotalCandidate) -> tuple[int, bool, bool, object]:
    return (c.priority, c.money.value != 0, c.money.currency is not None, abs(c.money.value))


_Labels = dict[int, list[tuple[str, int, int, str]]]


def _candidates_at(lines: list[str], labels: _Labels, index: int, found: list) -> list[TotalCandidate]:
    out = []
    for n, (kind, start, end, text) in enumerate(found):
        if kind not in PRIORITY:
            continue
        next_start = found[n + 1][1] if n + 1 < len(found) else None
        money = (
            _money_after(lines, labels, index, end, next_start)
            or _money_before(lines[index], start)
            or _money_on_line_before(lines, labels, index, start, end)
        )
        if money is not None:
            out.append(TotalCandidate(money, text.strip(), PRIORITY[kind]))
    return out


def _money_after(lines: list[str], labels: _Labels, index: int, offset: int, next_start: int | None) -> Money | None:
    """The amount after a label on its line (before the next label), else alone on one of the next lines."""
    line = lines[index]
    found = find_money(line[offset : min(offset + _AFTER_REACH, next_start or len(line))])
    if found:
        return found[0]
    rest = line[offset : offset + _AFTER_REACH]
    if rest.strip(" :\t") and not _is_connector(rest):
        return None
    for follow in range(index + 1, min(len(lines), index + 1 + _LOOKAHEAD_LINES)):
        if follow in labels:
            return None
        found = find_money(lines[follow])
        if found:
            return found[0] if _value_only(lines[follow], found[0]) else None
    return None


def _value_only(line: str, money: Money) -> bool:
    """A line that holds just the amount (`$338.50`, `CAD 756.16`), not an item row with prices."""
    return len(line.strip()) - len(money.text) <= 6


def _is_connector(rest: str) -> bool:
    """Text between a label and a value on the next line that does not break the link ("on May 30, 2023")."""
    return len(rest) < 40


_HEBREW = re.compile("[\u05d0-\u05ea]")


def _money_on_line_before(lines: list[str], labels: _Labels, index: int, start: int, end: int) -> Money | None:
    """A Hebrew label alone on its line takes the amount alone on the line above: a right-to-left PDF's text
    often comes out in visual order, value first (`₪936.00` then `סה"כ לתשלום:`)."""
    line = lines[index]
    if index == 0 or index - 1 in labels or line[:start].strip(" :") or line[end:].strip(" :"):
        return None
    if not _HEBREW.search(line[start:end]):
        return None
    found = find_money(lines[index - 1])
    return found[0] if len(found) == 1 and _value_only(lines[index - 1], found[0]) else None


def _money_before(line: str, offset: int) -> Money | None:
    window = line[max(0, offset - _BEFORE_REACH) : offset]
    found = find_money(window)
    return found[-1] if found and len(window) - found[-1].end < 16 else None
