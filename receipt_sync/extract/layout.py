"""Layout before line text: a total label paired with its value by where they sit, not by the order in which
text extraction happens to emit them.

- HTML tables: a label cell ("Total", "Amount charged") takes the amount in a later cell of its row (a
  line-item table's "Total:" row ends with its amount), else the amount in the same column of the next row
  (ride and app-store receipts print the label above the value).
- PDF text in layout mode (columns kept as runs of spaces): a label takes the amount at the end of its line,
  else the amount in the next lines that sits under the label's column.

A value is an amount with a currency or with cents, alone in its cell or column: never a quantity, a year,
a date part or a phone number (none of those has cents, and a date's parts are excluded by `find_money`).
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from receipt_sync.extract.amounts import Money, find_money
from receipt_sync.extract.totals import PRIORITY, TotalCandidate, label_kinds, rank

MAX_ROWS = 400  # receipts' tables are short; a huge table is not read past this many rows
MAX_CELLS = 12  # cells per row looked at
MAX_CELL_CHARS = 80  # a label or value cell is short; a longer cell is prose
_LABEL_SLACK = 3  # characters besides the label a label cell may hold (":", "*", " (1)")


def html_total(html: str | None) -> TotalCandidate | None:
    """The best-labelled amount paired through the HTML's table cells, or None."""
    if not html or ("<t" not in html and "<T" not in html):  # no table tag (html.lower() copied the page)
        return None
    rows = _rows(LexborHTMLParser(html))
    found = [c for i in range(len(rows)) for c in _row_candidates(rows, i)]
    return max(found, key=rank) if found else None


def _rows(tree: LexborHTMLParser) -> list[list[str]]:
    rows = []
    for tr in tree.css("tr")[:MAX_ROWS]:
        cells = [node for node in tr.iter() if node.tag in ("td", "th")][:MAX_CELLS]
        rows.append([_cell_text(cell) for cell in cells])
    return rows


def _cell_text(cell: object) -> str:
    text = cell.text(separator=" ", strip=True)  # type: ignore[attr-defined]
    return " ".join(text.split())[: MAX_CELL_CHARS + 1]


def _row_candidates(rows: list[list[str]], index: int) -> list[TotalCandidate]:
    out = []
    row = rows[index]
    for col, text in enumerate(row):
        kind, label = _label_cell(text)
        if kind is None:
            continue
        money = _later_in_row(row, col)
        if money is None and index + 1 < len(rows):
            below = rows[index + 1]
            money = _value(below[col]) if col < len(below) and _label_cell(below[col])[0] is None else None
        if money is not None:
            out.append(TotalCandidate(money, label, PRIORITY[kind]))
    return out


def _label_cell(text: str) -> tuple[str | None, str]:
    """(kind, label) when the cell holds one total label and nearly nothing else; kind None otherwise."""
    if not text or len(text) > MAX_CELL_CHARS:
        return None, ""
    kinds = label_kinds(text)
    if len(kinds) != 1:
        return None, ""
    kind, start, end = kinds[0]
    if kind not in PRIORITY or len(text) - (end - start) > _LABEL_SLACK or find_money(text):
        return None, ""
    return kind, text[start:end]


def _later_in_row(row: list[str], col: int) -> Money | None:
    """The last amount after the label in its row (a line-item table's total sits in its last column),
    stopping at another label."""
    money = None
    for text in row[col + 1 :]:
        if _label_cell(text)[0] is not None:
            break
        money = _value(text) or money
    return money


def _value(text: str) -> Money | None:
    """The cell's amount when the cell is just an amount (`$12.40`, `12,40 €`, `EUR 12.40`)."""
    if not text or len(text) > 30:
        return None
    found = find_money(text)
    if len(found) != 1 or len(text) - len(found[0].text) > 6:
        return None
    return found[0]


def layout_total(text: str) -> TotalCandidate | None:
    """The best-labelled amount in PDF layout text: at the end of the label's line (columns apart), else in
    the next two lines under the label's column."""
    lines = text.split("\n")
    found = []
    for index, line in enumerate(lines):
        if len(line) > 400:
            continue
        for kind, start, end in label_kinds(line):
            if kind not in PRIORITY:
                continue
            money = _line_end(line, end) or _under(lines, index, start, end)
            if money is not None:
                found.append(TotalCandidate(money, line[start:end], PRIORITY[kind]))
    return max(found, key=rank) if found else None


def _line_end(line: str, end: int) -> Money | None:
    """The amount ending the label's line, when only spacing and a colon or currency stand between."""
    rest = line[end:]
    found = find_money(rest)
    if not found:
        return None
    last = found[-1]
    between = rest[: last.start].strip(" :\t")
    if between and not (len(found) == 1 and len(between) <= 4):
        return None
    return last if not rest[last.end :].strip(" \t*") else None


def _under(lines: list[str], index: int, start: int, end: int) -> Money | None:
    """An amount in the next two lines whose span overlaps the label's column."""
    for follow in lines[index + 1 : index + 3]:
        if label_kinds(follow):
            return None
        for money in find_money(follow[:400]):
            if money.start < end + 4 and money.end > start - 4:
                return money
    return None
