"""Hebrew text clean-up: one spelling of the quote marks, and logical order for PDF text in visual order.

Many PDF generators store right-to-left text in visual order, so text extraction returns each Hebrew
line reversed ("םולשתל כ"הס" for "סה"כ לתשלום"). Final letter forms (ך ם ן ף ץ) only end words, so
when they mostly start words instead, the line is reversed back, keeping numbers and Latin runs intact.
"""

from __future__ import annotations

import re

_HEBREW = re.compile(r"[\u05d0-\u05ea]")
_FINAL_AT_START = re.compile(r"(?<![\u05d0-\u05ea])[ךםןףץ][\u05d0-\u05ea]")
_FINAL_AT_END = re.compile(r"[\u05d0-\u05ea][ךםןףץ](?![\u05d0-\u05ea])")
_LTR_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,:/@_%+\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_MIRROR = str.maketrans("()[]{}<>", ")(][}{><")
_QUOTE_PAIRS = (("״", '"'), ("׳", "'"), ("“", '"'), ("”", '"'), ("„", '"'), ("’", "'"), ("‘", "'"))


def normalise_quotes(text: str) -> str:
    """Gershayim and curly quotes as ASCII, so `סה״כ` and `סה"כ` read the same."""
    for mark, ascii_mark in _QUOTE_PAIRS:  # str.replace is a C scan; translate() walks char by char
        if mark in text:
            text = text.replace(mark, ascii_mark)
    return text


def has_hebrew(text: str) -> bool:
    return _HEBREW.search(text) is not None


def is_visual_order(text: str) -> bool:
    """True when final letter forms start words more often than they end them."""
    starts = len(_FINAL_AT_START.findall(text))
    ends = len(_FINAL_AT_END.findall(text))
    return starts > ends and starts >= 2


def to_logical_order(text: str) -> str:
    """Reverse each Hebrew line of visual-order text, keeping numbers and Latin words left to right."""
    return "\n".join(_reverse_line(line) if has_hebrew(line) else line for line in text.split("\n"))


def _reverse_line(line: str) -> str:
    reversed_line = line[::-1].translate(_MIRROR)
    return _LTR_RUN.sub(lambda m: m.group()[::-1], reversed_line)


def fix_visual_order(text: str) -> str:
    return to_logical_order(text) if has_hebrew(text) and is_visual_order(text) else text
