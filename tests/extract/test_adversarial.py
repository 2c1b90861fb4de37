"""Hostile mail against the extractor (issue 13): every case ends with the right answer, not a stalled sync.

The cases that stalled it (seconds to minutes on a backtracking pattern) run here at full size; a pattern
that went quadratic again would make this file hang, which the per-test timeout turns into a failure.
How long each case takes is measured in `bench/adversarial.py` (BENCHMARKS.md), never asserted here.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from email.header import Header

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.adversarial import cases as bench_cases
from receipt_sync.errors import MalformedMessageError
from receipt_sync.extract import Extraction, extract_email
from receipt_sync.mime import parse_email

pytestmark = pytest.mark.timeout(120)


def _raw(subject: str = "Hello", body: str = "Hi", sender: str = "Shop <shop@example.com>") -> bytes:
    head = f"From: {sender}\r\nTo: dana@example.com\r\nSubject: {subject}\r\n"
    head += "Date: Thu, 12 Mar 2026 09:30:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    return (head + body).encode("utf-8")


def _extract(raw: bytes) -> Extraction:
    return extract_email(parse_email(raw))


def _extract_parsed(*, subject: str = "Hello", body: str = "Hi", sender: str = "Shop") -> Extraction:
    """The extractor on its own, given header values the MIME parser's own caps (mime.py) would refuse:
    its caps must hold whatever reaches it."""
    parsed = parse_email(_raw(sender="Shop <billing@example.com>"))
    return extract_email(dataclasses.replace(parsed, subject=subject, text=body, sender=sender))


@pytest.mark.parametrize("n", [10_000, 30_000, 100_000])
def test_huge_subject_ending_in_a_label_is_not_a_receipt(n: int) -> None:
    result = _extract_parsed(subject="A" * n + "!receipt x")
    assert not result.is_receipt
    assert result.document_number is None


def test_huge_subject_is_one_clear_error_or_an_answer_never_a_stall() -> None:
    try:
        result = _extract(_raw(subject="A" * 100_000 + "!receipt x"))
    except MalformedMessageError as exc:
        assert "Subject" in str(exc)
    else:
        assert not result.is_receipt


def test_body_of_repeated_labels_after_capitals_is_not_a_receipt() -> None:
    result = _extract(_raw(subject="Hello", body="A" * 5000 + "!receipt x" * 1500))
    assert not result.is_receipt
    assert (result.total, result.document_number) == (None, None)


@pytest.mark.parametrize("space", ["\u2003", " ", "\t"])
def test_sender_name_padded_with_50000_spaces_reads_as_its_words(space: str) -> None:
    assert _extract_parsed(sender="a" + space * 50_000 + "b").vendor == "a b"


def test_mailer_words_after_a_long_space_run_are_still_dropped() -> None:
    assert _extract_parsed(sender="Acme" + "\u2003" * 20_000 + "Receipts").vendor == "Acme"


def test_number_written_before_its_label_is_read_but_a_run_of_capitals_is_not() -> None:
    subject = "Your invoice"
    body = "Acme Supplies\n993548900 Invoice number:\nAmount due: 120.00 EUR\n"
    assert _extract(_raw(subject=subject, body=body)).document_number == "993548900"
    hostile = "Acme Supplies\n" + "A1" * 5_000 + " Invoice number:\nAmount due: 120.00 EUR\n"
    assert _extract(_raw(subject=subject, body=hostile)).document_number is None


def test_receipt_after_hostile_padding_keeps_its_fields() -> None:
    body = "Thanks for your payment.\nAmount paid: $42.17\nReceipt number: R-2026-0042\n" + "A" * 30_000
    result = _extract(_raw(subject="Your receipt from Acme", body=body))
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("42.17"), "USD", "R-2026-0042")


@pytest.mark.parametrize("label", list(bench_cases(30_000)))
def test_every_benchmarked_hostile_message_gets_an_answer(label: str) -> None:
    try:
        result = _extract(bench_cases(30_000)[label])
    except MalformedMessageError as exc:  # the parser's own caps: one clear error for that message
        assert "limit" in str(exc)
        return
    assert isinstance(result.is_receipt, bool)
    assert 0.0 <= result.confidence <= 1.0
    assert result.to_json()["reasons"]


_NOISE = st.lists(
    st.sampled_from(
        ["A", "a", " ", "\u2003", "\n", "!", "-", "/", ".", ":", "#", "x", "receipt", "total", "Invoice #", "$",
         "€", "1 234", "2026", "ref", "\u202e", "\u05d0", "\u0130"]
    ),
    max_size=400,
).map("".join)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=_NOISE, body=_NOISE, name=_NOISE)
def test_hostile_noise_never_breaks_extraction(subject: str, body: str, name: str) -> None:
    """Any mix of the fragments the slow cases were made of: an answer whose JSON is the CLI's contract."""
    sender = Header(name or "x", "utf-8").encode(linesep="\r\n ")
    subject_header = Header(subject or "x", "utf-8").encode(linesep="\r\n ")
    result = _extract(_raw(subject=subject_header, body=body or "x", sender=f"{sender} <b@shop.example>"))
    out = result.to_json()
    assert isinstance(out["is_receipt"], bool)
    assert out["total"] is None or Decimal(str(out["total"])).is_finite()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=_NOISE)
def test_a_receipt_followed_by_hostile_noise_is_still_read(noise: str) -> None:
    body = "Thanks for your payment.\nAmount paid: $42.17\n" + noise
    result = _extract(_raw(subject="Your receipt from Acme", body=body))
    assert result.is_receipt
    assert (result.total, result.currency) == (Decimal("42.17"), "USD")
