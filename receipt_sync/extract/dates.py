"""Dates in documents: a labelled issue date first ("Invoice date", "Datum", "תאריך"), else the first date.

Numeric dates are day-first unless the day-first reading is impossible or the document is a US one
(`month_first=True`, chosen by the caller from a `$` currency).
"""

from __future__ import annotations

import re
from datetime import date

from receipt_sync.extract.scan import finditer_near_digits

_MONTHS = {
    # English, German, French, Dutch, Polish (nominative and genitive), Hebrew
    **dict.fromkeys(["jan", "january", "januar", "janvier", "januari", "styczeń", "stycznia", "ינואר"], 1),
    **dict.fromkeys(["feb", "february", "februar", "février", "februari", "luty", "lutego", "פברואר"], 2),
    **dict.fromkeys(["mar", "march", "märz", "mars", "maart", "marzec", "marca", "מרץ", "מרס"], 3),
    **dict.fromkeys(["apr", "april", "avril", "kwiecień", "kwietnia", "אפריל"], 4),
    **dict.fromkeys(["may", "mai", "mei", "maj", "maja", "מאי"], 5),
    **dict.fromkeys(["jun", "june", "juni", "juin", "czerwiec", "czerwca", "יוני"], 6),
    **dict.fromkeys(["jul", "july", "juli", "juillet", "lipiec", "lipca", "יולי"], 7),
    **dict.fromkeys(["aug", "august", "août", "augustus", "sierpień", "sierpnia", "אוגוסט"], 8),
    **dict.fromkeys(["sep", "sept", "september", "septembre", "wrzesień", "września", "ספטמבר"], 9),
    **dict.fromkeys(["oct", "october", "oktober", "octobre", "październik", "października", "אוקטובר"], 10),
    **dict.fromkeys(["nov", "november", "novembre", "listopad", "listopada", "נובמבר"], 11),
    **dict.fromkeys(["dec", "december", "dezember", "décembre", "grudzień", "grudnia", "דצמבר"], 12),
}
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_DATE = re.compile(
    r"(?<![\d.])(?P<iso>(?P<iy>(?:19|20)\d{2})-(?P<im>\d{1,2})-(?P<id>\d{1,2}))(?![\d])"
    r"|(?<![\d.])(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<y>(?:19|20)?\d{2})(?![\d])"
    rf"|(?<![\w])(?P<d1>\d{{1,2}})\.?\s+(?:ב)?(?P<m1>{_MONTH_ALT})\.?,?\s+(?P<y1>(?:19|20)\d{{2}})"
    rf"|(?<![\w])(?P<m2>{_MONTH_ALT})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>(?:19|20)\d{{2}})",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"(?<!\w)(?:(?:invoice|receipt|issue|document|order|billing|transaction|payment)? ?date|issued(?: on| at)?|"
    r"datum|rechnungsdatum|factuurdatum|date de (?:la )?facture|date d'émission|data wystawienia|"
    r"data|fecha|vom|du|תאריך(?: הפקה| חשבונית| מסמך)?)(?!\w)",
    re.IGNORECASE,
)

_MARGIN = 24  # a month name and spaces around a date's digits
_LABEL_REACH = 40  # how far after its label a labelled date may start
_LABEL_SPAN = 72  # the label's own length plus that reach: where to look for labels before a date
_NOT_ISSUE = re.compile(r"(?:due|payment|fällig\w*|échéance|verval\w*|termin|check[- ]?\w+|delivery)\s*$", re.I)


def find_dates(text: str, *, month_first: bool = False) -> list[tuple[int, date]]:
    """Every parseable date with its offset."""
    out = []
    for m in finditer_near_digits(_DATE, text, _MARGIN, _MARGIN):
        parsed = _to_date(m, month_first)
        if parsed is not None:
            out.append((m.start(), parsed))
    return out


def document_date(text: str, *, month_first: bool = False) -> date | None:
    """A date just after an issue-date label, else the first date in the text."""
    dates = find_dates(text, month_first=month_first)
    if not dates:
        return None
    for label in _labels_before(text, [offset for offset, _ in dates]):
        if _NOT_ISSUE.search(text[max(0, label.start() - 14) : label.start()]):
            continue
        for offset, value in dates:
            if 0 <= offset - label.end() <= _LABEL_REACH:
                return value
    return dates[0][1]


def _labels_before(text: str, offsets: list[int]) -> list[re.Match[str]]:
    """Date labels in the stretches just before dates: a label further from any date cannot count."""
    spans: list[tuple[int, int]] = []
    for offset in offsets:
        start = max(0, offset - _LABEL_SPAN)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], offset)
        else:
            spans.append((start, offset))
    return [m for start, end in spans for m in _LABEL.finditer(text, start, end)]


def _to_date(m: re.Match[str], month_first: bool) -> date | None:
    if m.group("iso"):
        return _safe(int(m.group("iy")), int(m.group("im")), int(m.group("id")))
    if m.group("a"):
        return _numeric(int(m.group("a")), int(m.group("b")), m.group("y"), month_first)
    if m.group("m1"):
        return _safe(int(m.group("y1")), _MONTHS[m.group("m1").lower()], int(m.group("d1")))
    return _safe(int(m.group("y2")), _MONTHS[m.group("m2").lower()], int(m.group("d2")))


def _numeric(a: int, b: int, year_text: str, month_first: bool) -> date | None:
    year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    if (month_first and a <= 12) or b > 12:
        return _safe(year, a, b)
    return _safe(year, b, a)


def _safe(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
