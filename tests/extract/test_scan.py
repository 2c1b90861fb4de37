"""The look-ahead `word_led` adds to a label pattern is a speed-up only: the labels found never change."""

from __future__ import annotations

import random
import re

import pytest

from receipt_sync.extract import amounts, detect, docnumber, totals
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
    plain = re.compile(re.sub(r"^(\\W|\[\\W\\d\])\(\?=\[[^\]]*\]\)", r"\1", pattern.pattern))
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


def _touching(low: str, matches: object) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in matches if amounts._touches_number(low, m.start(), m.end())]  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(30))
def test_currency_marks_found_near_digits_are_the_whole_text_scans_own(seed: int) -> None:
    """Marks glued into words ("usdusd$"), runs of digits close together and far apart, other digits."""
    rng = random.Random(seed)
    pieces = ["usd", "$", "eur", "euros", "rs.", "rs", "zł", "ש\"ח", "₪", " ", "\n", "-", "12", "3,50", "7", "yours",
              "europe", "text ", "x", "²"] + ["word " * 5] * 3  # fmt: skip
    low = "".join(rng.choice(pieces if seed % 3 else pieces[:-4]) for _ in range(400)).lower()
    expected = _touching(low, amounts._CURRENCY_MARK.finditer(low))
    assert _touching(low, amounts._marks_near_digits(low)) == expected


def test_the_other_digits_are_every_digit_that_is_not_decimal() -> None:
    others = [chr(c) for c in range(0x110000) if chr(c).isdigit() and not chr(c).isdecimal()]
    assert all(amounts._OTHER_DIGITS.fullmatch(c) for c in others)
    assert not amounts._OTHER_DIGITS.search("0123456789٠١٢")


def test_dominant_currency_counts_amounts_not_words() -> None:
    text = "Yours in Europe: rs and eur everywhere.\nTotal 12,00 € and 5 €, then $3"
    assert amounts.dominant_currency(text) == "EUR"
