"""The look-ahead `word_led` adds to a label pattern is a speed-up only: the labels found never change."""

from __future__ import annotations

import re

import pytest

from receipt_sync.extract import detect, docnumber, totals
from receipt_sync.extract.scan import word_led
from receipt_sync.mime import decode_header_value, normalise_text

TEXTS = [
    '\nOrder total: $12.00\nSubtotal 10,00 €\nAmount paid USD 5\ninvoice no. 123 receipt #A-9 סה"כ לתשלום 117 ₪',
    "\n  tax invoice  חשבונית מס קבלה 5521 booking reference XJ3K9P, confirmation code: ABCDE\n\nvisa ending in 4242",
    "\nreceipts e-receipt ereceipt invoices קבלה ולקבלה gutschrift reçu total (incl. vat) 9.99 refunded",
    "\n" + "total " * 50 + "order id 5 receipt x\t\u00a0\u00a0y",
]


@pytest.mark.parametrize(
    "pattern",
    [totals._LABELS_LOWER, docnumber._LABEL_RE_LOWER, detect._DOC_WORDS_LOWER],
    ids=["total labels", "document-number labels", "receipt words"],
)
@pytest.mark.parametrize("text", TEXTS)
def test_word_led_pattern_finds_what_the_plain_pattern_finds(pattern: re.Pattern[str], text: str) -> None:
    plain = re.compile(re.sub(r"^\\W\(\?=\[[^\]]*\]\)", r"\\W", pattern.pattern))
    assert plain.pattern != pattern.pattern  # the look-ahead was added
    found = [(m.start(), m.end(), m.lastgroup) for m in pattern.finditer(text)]
    assert found == [(m.start(), m.end(), m.lastgroup) for m in plain.finditer(text)]
    assert found  # every sample holds some label


def test_word_led_leaves_a_pattern_that_may_start_anywhere_unchanged() -> None:
    assert word_led(r"\w+total").pattern == r"\W\w+total"
    assert word_led(r"(?:x)?").pattern == r"\W(?:x)?"


def test_optional_prefix_widens_the_lookahead_to_what_follows() -> None:
    pattern = word_led(r"(?:tax )?invoice")
    assert pattern.search("\ninvoice") and pattern.search(" tax invoice")


def test_text_is_normalised_to_single_spaces_and_no_blank_lines() -> None:
    assert normalise_text("a \t\u00a0 b\r\n\r\n  \n c  \rd") == "a b\nc\nd"


def test_plain_headers_are_cleaned_and_encoded_words_decoded() -> None:
    assert decode_header_value("  Your\r\n   receipt\t from  Acme ") == "Your receipt from Acme"
    assert decode_header_value("=?utf-8?b?15fXqdeR15XXoNeZ16o=?= 12") == "חשבונית 12"
