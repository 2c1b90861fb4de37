"""Money in text: amounts with their currency, and the total of a document chosen by the label next to it.

Amounts are written many ways: `$1,296.80`, `US$253.56`, `CAD 756.16`, `€ 717,97`, `1.589,80 EUR`, `1 234,56 zł`,
`117.00 ₪`, `ש"ח 117`, `Rs 1939`. The total is the amount next to the strongest total-like label
(what was paid or charged beats a grand total, which beats a plain "Total"); subtotals, taxes and
savings never count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from receipt_sync.extract.scan import finditer_near_digits

_SYMBOLS = {
    "US$": "USD", "USD$": "USD", "CA$": "CAD", "C$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
    "HK$": "HKD", "S$": "SGD", "NT$": "TWD", "R$": "BRL", "MX$": "MXN", "$": "USD", "€": "EUR",
    "£": "GBP", "₪": "ILS", "¥": "JPY", "₹": "INR", "RS.": "INR", "RS": "INR", "ZŁ": "PLN", "ZL": "PLN",
    'ש"ח': "ILS", "ש''ח": "ILS", "שח": "ILS", "NIS": "ILS", "EURO": "EUR", "EUROS": "EUR", "FR.": "CHF",
    "KČ": "CZK", "₩": "KRW", "₺": "TRY", "₽": "RUB",
}  # fmt: skip
_CODES = frozenset(
    ["USD", "EUR", "GBP", "ILS", "CAD", "AUD", "NZD", "CHF", "JPY", "CNY", "INR", "PLN", "SEK", "NOK", "DKK",
     "CZK", "HUF", "RON", "BGN", "HKD", "SGD", "TWD", "BRL", "MXN", "ZAR", "TRY", "RUB", "AED", "SAR", "KRW",
     "THB"]
)  # fmt: skip
_CUR_ALT = "|".join(re.escape(s) for s in sorted([*_SYMBOLS, *_CODES], key=len, reverse=True))
# Thousands grouped by a plain space ("1 234,56 zł", Polish/French/Nordic) only with a decimal comma:
# bare, "2 100" is as likely a quantity and a price.
_NUM = (
    r"\d{1,3}(?: \d{3})+,\d{2}(?!\d)|"
    r"\d{1,3}(?:[,.'\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
)
_SIGN = r"[-\u2212\u2013]"
MONEY = re.compile(
    rf"(?P<s1>{_SIGN})?\s?(?<![A-Za-z])(?P<c1>{_CUR_ALT})\s?(?P<s2>{_SIGN})?\s?(?P<n1>{_NUM})(?![\d])"
    # a bare number never follows a slash: `03/12/2014.00` is a date's year, not an amount
    rf"|(?<![\w.,/])(?P<s3>{_SIGN})?(?P<n2>{_NUM})(?![\d])(?:[ \t]{{0,8}}(?P<c2>{_CUR_ALT})(?![A-Za-z]))?",
    re.IGNORECASE,
)
# What MONEY can match ahead of an amount's first digit (sign, currency, spaces) and past its last one.
_BEFORE_DIGITS, _AFTER_DIGITS = 12, 16
_CURRENCY_MARK = re.compile("|".join(re.escape(c.lower()) for c in sorted([*_SYMBOLS, *_CODES], key=len, reverse=True)))
_NUMBER_AHEAD = re.compile(rf"\s?{_SIGN}?\s?\d")
# For `_marks_near_digits`: a mark touching a number ends at most 3 characters before a digit (`_NUMBER_AHEAD`)
# or starts at most 9 after one (`_touches_number`); `_OTHER_DIGITS` are the characters `str.isdigit` accepts
# that `\d` does not (tests/extract/test_scan.py checks the list against every code point).
_MARKS = [c.lower() for c in [*_SYMBOLS, *_CODES]]
_MARK_CHARS = frozenset("".join(_MARKS))
_MARK_BEFORE = 3 + max(map(len, _MARKS))
_MARK_AFTER = 9 + max(map(len, _MARKS))
_DIGIT_SPAN = re.compile(r"\d+")
_OTHER_DIGITS = re.compile(
    "[\u00b2\u00b3\u00b9\u1369-\u1371\u19da\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u2474-\u247c"
    "\u2488-\u2490\u24ea\u24f5-\u24fd\u24ff\u2776-\u277e\u2780-\u2788\u278a-\u2792"
    "\U00010a40-\U00010a43\U00010e60-\U00010e68\U00011052-\U0001105a\U0001f100-\U0001f10a]"
)
_GLUED_SHEKEL = re.compile(r'(ש"ח|₪)(?=[\u05d0-\u05ea])')
_SPLIT_SYMBOL = re.compile(r"([$€£₪])[ \t]*\n[ \t]*(?=[-\d])")


@dataclass(frozen=True)
class Money:
    value: Decimal
    currency: str | None
    start: int
    end: int
    text: str


def parse_number(text: str) -> Decimal | None:
    """`1,234.56`, `1.234,56`, `1'234.56`, `717,97`, `1,296` (thousands) → Decimal."""
    raw = re.sub(r"[\s\u00a0\u202f']", "", text)
    last_comma, last_dot = raw.rfind(","), raw.rfind(".")
    decimal_sep: str | None
    if last_comma >= 0 and last_dot >= 0:
        decimal_sep = "," if last_comma > last_dot else "."
    elif last_comma >= 0 or last_dot >= 0:
        sep = "," if last_comma >= 0 else "."
        decimal_sep = None if re.fullmatch(rf"\d{{1,3}}(?:\{sep}\d{{3}})+", raw) else sep
    else:
        decimal_sep = None
    thousands = {",", "."} - {decimal_sep}
    for sep in thousands:
        raw = raw.replace(sep, "")
    if decimal_sep:
        raw = raw.replace(decimal_sep, ".")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def currency_of(token: str | None) -> str | None:
    if not token:
        return None
    upper = token.upper().replace("״", '"')
    return _SYMBOLS.get(upper) or (upper if upper in _CODES else None)


def find_money(text: str, *, bare: bool = True) -> list[Money]:
    """Amounts in `text`; without a currency only when they have cents (`44.95`) and `bare` is set."""
    found = []
    for m in finditer_near_digits(MONEY, text, _BEFORE_DIGITS, _AFTER_DIGITS):
        number = m.group("n1") or m.group("n2")
        cur = currency_of(m.group("c1") or m.group("c2"))
        if cur is None and not (bare and re.search(r"[.,]\d{2}$", number)):
            continue
        if cur is None and _looks_like_time(text, m):
            continue
        value = parse_number(number)
        if value is None:
            continue
        if m.group("s1") or m.group("s2") or m.group("s3"):
            value = -value
        found.append(Money(value, cur, m.start(), m.end(), m.group().strip()))
    return found


def _looks_like_time(text: str, m: re.Match[str]) -> bool:
    return text[m.end() : m.end() + 1] == ":" or text[max(0, m.start() - 1) : m.start()] == ":"


def prepare(text: str) -> str:
    """Join a currency symbol left alone on its line (common in PDF text) to the amount below it, and
    part a currency glued to the next word (`ש"חסה"כ` in right-to-left PDF text)."""
    return _GLUED_SHEKEL.sub(r"\1 ", _SPLIT_SYMBOL.sub(r"\1", text))


def dominant_currency(text: str) -> str | None:
    """The currency the document mentions most beside an amount, for a total whose currency is implicit.

    Counts currency marks that touch a number (`$12`, `12,00 €`, `EUR 5`) with one case-sensitive pass
    over lower-cased text, several times cheaper than reading every amount in a long HTML receipt."""
    counts: dict[str, int] = {}
    low = text.lower()
    for m in _marks_near_digits(low):
        if _touches_number(low, m.start(), m.end()):
            cur = currency_of(m.group())
            if cur:
                counts[cur] = counts.get(cur, 0) + 1
    return max(counts, key=lambda c: counts[c]) if counts else None


def _marks_near_digits(low: str) -> Iterator[re.Match[str]]:
    """What `_CURRENCY_MARK.finditer(low)` yields near enough to a digit to touch it, found only in windows
    around the digit runs (codes like `rs` or `eur` otherwise match all over a long text). A window opens and
    closes beside a character no mark contains, where the whole-text scan cannot be inside a match, so the
    windows find the whole-text scan's own matches. Digits other than decimal ones (`²`, `①`, which
    `_touches_number` also accepts) are rare: text that has them is scanned whole."""
    if not low.isascii() and _OTHER_DIGITS.search(low):
        yield from _CURRENCY_MARK.finditer(low)
        return
    size, end = len(low), 0
    for run in _DIGIT_SPAN.finditer(low):
        if run.end() + _MARK_AFTER <= end:
            continue  # the last window covers this run's reach
        # where the last window ended the scan is free (no mark holds that character): go on from there
        start = max(end, run.start() - _MARK_BEFORE)
        while start > end and low[start - 1] in _MARK_CHARS:
            start -= 1
        end = min(size, run.end() + _MARK_AFTER)
        while end < size and low[end] in _MARK_CHARS:
            end += 1
        yield from _CURRENCY_MARK.finditer(low, start, end)


def _touches_number(low: str, start: int, end: int) -> bool:
    """A mark directly before an amount (not ending a word) or after one (not starting a word)."""
    before = low[start - 1 : start] if start else ""
    if not before.isalpha() and _NUMBER_AHEAD.match(low, end):
        return True
    after = low[end : end + 1]
    return not after.isalpha() and low[max(0, start - 9) : start].rstrip(" \t")[-1:].isdigit()
