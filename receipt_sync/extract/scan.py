"""Fast regex scanning for patterns that always contain a digit (amounts, dates).

Python's regex engine tries a pattern that opens with a look-behind at every position of the text, which
costs a whole HTML receipt's worth of work per pattern. Digits are rare in text, and a C-level scan finds
them fast, so such patterns are run only over windows around the digit runs, with margins wide enough
for everything the pattern can match before or after a digit. Look-behinds still see the real text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants, _parser  # type: ignore[attr-defined]  # to read what a pattern can start with

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


def word_led(pattern: str, lead: str = r"\W") -> re.Pattern[str]:
    """`lead` (by default `\\W`) + `pattern`, compiled case-sensitively, with a look-ahead for the characters
    `pattern` can start with when they are known: the engine then rejects most word starts with one set lookup
    instead of trying every alternative (the matches are the same; the look-ahead only says what the
    alternatives require)."""
    first = _first_chars(_parser.parse(pattern).data)
    if not first:
        return re.compile(lead + pattern)
    return re.compile(lead + "(?=[" + "".join(re.escape(c) for c in sorted(first)) + "])" + pattern)


_ZERO_WIDTH = {_constants.AT, _constants.ASSERT, _constants.ASSERT_NOT}


def _first_chars(items: list) -> set[str] | None:
    """The characters a sequence of parsed items can start with; None when unknown or it can match empty
    (no look-ahead is added then)."""
    for index, (op, av) in enumerate(items):
        if op in _ZERO_WIDTH:  # look-arounds consume nothing: skipping them only widens the set
            continue
        if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            inner = _first_chars(list(av[2].data))
            if av[0] >= 1 or inner is None:
                return inner
            rest = _first_chars(items[index + 1 :])
            return None if rest is None else inner | rest
        return _item_first_chars(op, av)
    return None


def _item_first_chars(op: object, av: object) -> set[str] | None:
    if op is _constants.LITERAL:
        return {chr(av)}  # type: ignore[arg-type]
    if op is _constants.SUBPATTERN:
        return _first_chars(list(av[3].data))  # type: ignore[index]
    if op is _constants.BRANCH:
        found: set[str] = set()
        for branch in av[1]:  # type: ignore[index]
            chars = _first_chars(list(branch.data))
            if chars is None:
                return None
            found |= chars
        return found
    if op is _constants.IN:
        found = set()
        for kind, value in av:  # type: ignore[attr-defined]
            if kind is _constants.LITERAL:
                found.add(chr(value))
            elif kind is _constants.RANGE:
                found.update(chr(c) for c in range(value[0], value[1] + 1))
            else:  # a negated set or a category: not worth spelling out
                return None
        return found
    return None
