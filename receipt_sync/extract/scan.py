"""Fast regex scanning for patterns that always contain a digit (amounts, dates).

Python's regex engine tries a pattern that opens with a look-behind at every position of the text, which
costs a whole HTML receipt's worth of work per pattern. Digits are rare in text, and a C-level scan finds
them fast, so such patterns are run only over windows around the digit runs, with margins wide enough
for everything the pattern can match before or after a digit. Look-behinds still see the real text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_DIGIT_RUN = re.compile(r"\d[\d,.'\u00a0\u202f]*")


def digit_windows(text: str, before: int, after: int) -> list[tuple[int, int]]:
    """Merged spans around every run of digits, widened by `before` and `after` characters."""
    spans: list[tuple[int, int]] = []
    size = len(text)
    for m in _DIGIT_RUN.finditer(text):
        start, end = max(0, m.start() - before), min(size, m.end() + after)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def finditer_near_digits(pattern: re.Pattern[str], text: str, before: int, after: int) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern whose matches all hold a digit, reach at most `before`
    characters ahead of their first digit and `after` characters past their last one."""
    for start, end in digit_windows(text, before, after):
        yield from pattern.finditer(text, start, end)


def lowered(text: str) -> str | None:
    """The text in lower case with every offset unchanged, or None when lower-casing would move them
    (a handful of characters, such as `İ`, lower-case to two)."""
    low = text.lower()
    return low if len(low) == len(text) else None
