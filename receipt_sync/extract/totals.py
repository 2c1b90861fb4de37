"""Pick a document's total: the amount beside the strongest total-like label, in any supported language.

Strength: what was paid, charged or refunded (3) > a grand total or amount due (2) > a plain total (1).
Labels that only look like totals (subtotal, total before tax, VAT total, savings) are matched first so
they are never taken. HTML-to-text and PDF text often put the value on the next line, so the two lines
after a label are searched too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from receipt_sync.extract.amounts import Money, find_money

_EXCLUDED = (
    r"sub[- ]?total|subtotaal|zwischensumme|sous[- ]total|total (?:before|excl\w*|ex\.?|ht|net|hors)\b|"
    r"(?:net|tax|vat|btw|mwst) total|total (?:tax(?:es)?|vat|savings?|discount|points|items?)|"
    r"summe netto|net total|totaal excl\w*|montant (?:ht|tva)|"
    r'סה"כ לפני מע"מ|סה"כ מע"מ|סכום לפני מע"מ|סה"כ ללא מע"מ|סה"כ הנחה|per[- ]person total'
)
_PAID = (
    r"amount paid|total paid|you paid|paid|payment amount|amount charged|we charged|charged|"
    r"billed to (?:your )?card|card payment|payment received|refund(?:ed)? amount|amount refunded|"
    r"total refund(?:ed)?|refunded|bezahlt|payé|betaald|zapłacono|"
    r'סה"כ שולם|סכום ששולם|שולם|סכום החיוב|חויב|סה"כ זיכוי|סכום הזיכוי'
)
_GRAND = (
    r"grand total|total due|amount due|balance due|total amount|invoice total|order total|total price|"
    r"total cost|trip total|total charges?|total to pay|amount to pay|total \(?incl\w*\.?(?: vat| tax)?\)?|"
    r"total ttc|montant ttc|somme à payer|net à payer|total facture|montant du prélèvement|"
    r"gesamtbetrag|rechnungsbetrag|zahlbetrag|endbetrag|bruttobetrag|due payable|totaalbedrag|"
    r"factuur totaal|te betalen|do zapłaty|razem do zapłaty|kwota do zapłaty|"
    r'סה"כ לתשלום|סך הכל לתשלום|סכום לתשלום|סה"כ כולל מע"מ|לתשלום'
)
_TOTAL = r"total|totaal|summe|montant|bedrag|razem|suma|importe|totale|סה\"כ|סך הכל"
_LABELS = re.compile(
    rf"(?<!\w)(?:(?P<excluded>{_EXCLUDED})|(?P<paid>{_PAID})|(?P<grand>{_GRAND})|(?P<total>{_TOTAL}))(?!\w)",
    re.IGNORECASE,
)
_PRIORITY = {"paid": 3, "grand": 2, "total": 1}
_LOOKAHEAD_LINES = 2


@dataclass(frozen=True)
class TotalCandidate:
    money: Money
    label: str
    priority: int


def find_total(lines: list[str]) -> TotalCandidate | None:
    """The best-labelled amount; ties go to a non-zero amount with a currency, then the largest."""
    candidates = [c for i, line in enumerate(lines) for c in _candidates_at(lines, i, line)]
    if not candidates:
        return None
    return max(candidates, key=_rank)


def _rank(c: TotalCandidate) -> tuple[int, bool, bool, object]:
    return (c.priority, c.money.value != 0, c.money.currency is not None, abs(c.money.value))


def _candidates_at(lines: list[str], index: int, line: str) -> list[TotalCandidate]:
    out = []
    for m in _LABELS.finditer(line):
        kind = m.lastgroup
        if kind == "excluded" or kind is None:
            continue
        money = _money_after(lines, index, m.end()) or _money_before(line, m.start())
        if money is not None:
            out.append(TotalCandidate(money, m.group().strip(), _PRIORITY[kind]))
    return out


def _money_after(lines: list[str], index: int, offset: int) -> Money | None:
    rest = lines[index][offset:]
    next_label = _LABELS.search(rest)
    found = find_money(rest[: next_label.start()] if next_label else rest)
    if found:
        return found[0]
    if rest.strip(" :\t") and not _is_connector(rest):
        return None
    for follow in lines[index + 1 : index + 1 + _LOOKAHEAD_LINES]:
        if _LABELS.search(follow):
            return None
        found = find_money(follow)
        if found:
            return found[0] if _value_only(follow, found[0]) else None
    return None


def _value_only(line: str, money: Money) -> bool:
    """A line that holds just the amount (`$338.50`, `CAD 756.16`), not an item row with prices."""
    return len(line.strip()) - len(money.text) <= 6


def _is_connector(rest: str) -> bool:
    """Text between a label and a value on the next line that does not break the link ("on May 30, 2023")."""
    return len(rest) < 40


def _money_before(line: str, offset: int) -> Money | None:
    found = find_money(line[:offset])
    return found[-1] if found and offset - found[-1].end < 16 else None
