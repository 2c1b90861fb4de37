"""The document number: taken from beside a label, preferring invoice/receipt numbers to booking codes,
booking codes to order ids, and those to loose references. Values that are really phone numbers, dates,
amounts or words are refused.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator

from receipt_sync.extract.scan import lowered, word_led

_LABELS: list[tuple[int, str]] = [
    (
        4,
        r"(?:tax )?invoice|receipt|credit note|credit memo|facture|avoir|reçu|recibo|ricevuta|"
        r"rechnung|rechnungs-?nummer|"
        r"factuur(?:nummer)?|faktura|faktury|numer faktury|belegnummer|quittung|"
        r"חשבונית מס קבלה|חשבונית מס|חשבונית|קבלה|מספר חשבונית|מספר קבלה|מספר מסמך",
    ),
    (
        3,
        r"confirmation(?: code| number| no\.?)?|record locator|booking (?:reference|number|ref\.?|code)|"
        r"reservation (?:number|code|id)|airline confirmation|pnr|buchungsnummer|numéro de réservation|"
        r"מספר אישור|מספר הזמנה",
    ),
    (
        2,
        r"order(?: number| no\.?| id)?|ordernummer|bestellnummer|bestellung|commande|zamówienie|"
        r"document|transaction(?: id)?|הזמנה",
    ),
    (1, r"reference|ref\.?|trip id|booking id|id|אסמכתא"),
]
_NUMBER_WORD = r"(?:[ \t]*(?:vat|number|no\.?|nr\.?|num\.?|n°|nº|#|№|id|code|:|מס'|מספר))*"
# A label starts a word, or right after a number: PDF columns come out as `993548900Factuurnummer:`.
_LABEL_PATTERN = "|".join(rf"(?P<p{prio}>(?<![^\W\d])(?:{alt})(?!\w){_NUMBER_WORD})" for prio, alt in _LABELS)
_LABEL_RE = re.compile(_LABEL_PATTERN, re.IGNORECASE)
# For lower-cased text, with "\n" put in front: the same labels, each led by the non-letter character
# before it. Case-sensitive and opening with a character class, it lets the regex engine skip whole
# words in C instead of trying every alternative at every position: several times faster.
_LABEL_RE_LOWER = word_led(
    "(?:" + "|".join(rf"(?P<p{prio}>(?:{alt})(?!\w){_NUMBER_WORD})" for prio, alt in _LABELS) + ")", r"[\W\d]"
)
# The look-behind lets a run of separators be tried once, from its start (linear even under finditer).
_TOKEN = re.compile(r"(?<![\s:#.(\[])[\s:#.(\[]*([A-Za-z0-9][A-Za-z0-9/_.\-]*[A-Za-z0-9]|[0-9])")
_PHONE = re.compile(r"^\+|^\(?\d{2,4}\)?[\s.\-]\d{3}[\s.\-]\d{3,4}$|^0\d{1,2}-\d{7}$")
_DATEISH = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
_AMOUNTISH = re.compile(r"^\d{1,3}(?:,\d{3})*\.\d{2}$|^\d+,\d{2}$")
_STOPWORDS = {"NUMBER", "DATE", "INVOICE", "RECEIPT", "ORDER", "TOTAL", "CODE", "DETAILS", "SUMMARY", "PAID"}


def find_document_number(lines: list[str]) -> str | None:
    """The highest-priority valid value found next to a label."""
    return find_document_number_with_priority(lines)[0]


def find_document_number_with_priority(lines: list[str]) -> tuple[str | None, int]:
    """The number and its label's priority (4 invoice/receipt … 1 loose reference; 0 when none)."""
    best: tuple[int, str] | None = None
    text = "\n".join(lines)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    for priority, start, end in _labels(text):  # one pass over the text: far cheaper than one per line
        if best is not None and priority <= best[0]:
            continue
        index = bisect.bisect_right(starts, start) - 1
        line_start = starts[index]
        after, before = start - line_start, end - line_start
        if after and lines[index][after - 1].isdigit():  # glued to the number before it: that is its value
            value = _value_before(lines[index], after) or _value_after(lines, index, before)
        else:
            value = _value_after(lines, index, before) or _value_before(lines[index], after)
        if value:
            best = (priority, value)
    return (best[1], best[0]) if best else (None, 0)


def _labels(text: str) -> Iterator[tuple[int, int, int]]:
    """(priority, start, end) of every label in `text`."""
    low = lowered(text)
    if low is None:
        for m in _LABEL_RE.finditer(text):
            yield int((m.lastgroup or "p0")[1:]), m.start(), m.end()
        return
    for m in _LABEL_RE_LOWER.finditer("\n" + low):  # offsets shift by the "\n" and the leading character
        yield int((m.lastgroup or "p0")[1:]), m.start(), m.end() - 1


def _value_after(lines: list[str], index: int, offset: int) -> str | None:
    rest = lines[index][offset:]
    token = _TOKEN.match(rest)
    if token:
        return token.group(1) if valid(token.group(1)) else None
    if rest.strip(" :#.\t"):
        return None
    nxt = lines[index + 1] if index + 1 < len(lines) else ""
    if not nxt.strip(" :#.\t") and index + 2 < len(lines):
        nxt = lines[index + 2]  # HTML tables put label, ":" and value in three cells: three lines of text
    token = _TOKEN.match(nxt)
    return token.group(1) if token and valid(token.group(1)) and len(nxt) < 60 else None


_BEFORE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-")
_BEFORE_REACH = 64  # trailing spaces plus the longest valid number (40), with room to see it is longer


def _value_before(line: str, offset: int) -> str | None:
    """PDF columns sometimes come out as `993548900Factuurnummer:`. Read backwards from the label over at
    most `_BEFORE_REACH` characters, so a label after a long run of capitals costs nothing (a regex anchored
    at the line's end retried every start in the run: quadratic)."""
    head = line[max(0, offset - _BEFORE_REACH) : offset].rstrip()
    start = len(head)
    while start > 0 and head[start - 1] in _BEFORE_CHARS:
        start -= 1
    if start == 0 and offset > _BEFORE_REACH:
        return None  # the run goes on past the reach: far longer than any document number
    value = head[start:].lstrip("/_.-")
    return value if len(value) >= 4 and valid(value) and any(c.isdigit() for c in value) else None


def valid(value: str) -> bool:
    """A plausible document number: has a digit (or is an all-caps booking code), and is not a phone
    number, a date or an amount."""
    if not 3 <= len(value) <= 40 or value.upper() in _STOPWORDS:
        return False
    if _PHONE.search(value) or _DATEISH.match(value) or _AMOUNTISH.match(value):
        return False
    if any(c.isdigit() for c in value):
        return True
    return value.isupper() and value.isalpha() and 5 <= len(value) <= 8


_CODE_LIST_REACH = 12  # lines after the number found in which the codes of one list stand
_CODE_LINE = re.compile(r"[A-Z0-9][A-Z0-9\-]{3,38}[A-Z0-9]")


def sellers_own_code(lines: list[str], number: str | None, vendor: str | None) -> str | None:
    """In a list of codes by company ("American Airlines / LMTRZQ / … / Capital One Travel / H-H-G4K8NY7KW4",
    a travel agency's confirmation), the code under the sender's own name is the receipt's reference: the
    others are its suppliers'. None unless `number` stands under a company name in such a list."""
    if not number or not vendor or len(vendor) < 3:
        return None
    own = vendor.lower()
    for index in range(1, len(lines)):
        if lines[index] == number and _is_name_line(lines[index - 1], own) is False:
            return _code_under(lines, index + 1, own)
    return None


def _code_under(lines: list[str], first: int, own: str) -> str | None:
    for index in range(first, min(first + _CODE_LIST_REACH, len(lines) - 1)):
        code = lines[index + 1]
        if _is_name_line(lines[index], own) and _CODE_LINE.fullmatch(code) and valid(code):
            return code
    return None


def _is_name_line(line: str, own: str) -> bool | None:
    """True for the sender's name (its words first: "Capital One Travel" for "Capital One"), False for another
    company's name, None for a line that is no name (digits, punctuation, a sentence)."""
    if not 3 <= len(line) <= 40 or not re.fullmatch(r"[^\W\d_][\w&.' -]*", line) or len(line.split()) > 5:
        return None
    return line.lower().startswith(own)
