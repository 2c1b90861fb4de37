"""The sample mailbox is realistic enough to test the product on, and its truth matches what is in the mail."""

from __future__ import annotations

import email
import io
import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from receipt_sync.mail.mbox import mbox_id
from receipt_sync.samples import SampleMessage, generate_messages, write_truth

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
HEBREW_LETTERS = set("אבגדהוזחטיכלמנסעפצקרשתךםןףץ")


@pytest.fixture(scope="module")
def mailbox() -> list[SampleMessage]:
    return generate_messages(1500, seed=11, start=START, end=END)


def _parse(message: SampleMessage) -> EmailMessage:
    return email.message_from_bytes(message.raw, policy=policy.default)  # type: ignore[return-value]


def _texts(parsed: EmailMessage) -> list[tuple[str, str]]:
    """(declared charset, decoded text) of every text part."""
    return [
        (part.get_content_charset() or "us-ascii", part.get_content())
        for part in parsed.walk()
        if part.get_content_maintype() == "text"
    ]


def test_same_seed_and_window_give_the_same_mailbox() -> None:
    first = generate_messages(200, seed=5, start=START, end=END)
    again = generate_messages(200, seed=5, start=START, end=END)
    other = generate_messages(200, seed=6, start=START, end=END)
    assert first == again
    assert [m.raw for m in first] != [m.raw for m in other]


def test_messages_come_newest_first_inside_the_window_with_unique_ids(mailbox: list[SampleMessage]) -> None:
    dates = [m.internal_date for m in mailbox]
    assert dates == sorted(dates, reverse=True)
    assert all(START <= d < END and d.tzinfo is not None for d in dates)
    assert len({m.id for m in mailbox}) == len(mailbox)


def test_a_third_of_the_mail_is_receipts_in_english_and_hebrew(mailbox: list[SampleMessage]) -> None:
    share = sum(m.truth.is_receipt for m in mailbox) / len(mailbox)
    kinds = Counter(m.truth.kind for m in mailbox if m.truth.is_receipt)
    negatives = Counter(m.truth.kind for m in mailbox if not m.truth.is_receipt)
    assert 0.30 <= share <= 0.42
    assert {"hebrew-tax-invoice", "hebrew-receipt", "hebrew-tax-invoice-receipt", "hebrew-pdf-invoice"} <= set(kinds)
    assert {"html-receipt", "pdf-invoice", "credit-note", "subscription-invoice"} <= set(kinds)
    assert {"marketing", "shipping-notice", "newsletter", "personal", "account-statement"} <= set(negatives)
    currencies = Counter(m.truth.currency for m in mailbox if m.truth.is_receipt)
    assert set(currencies) == {"USD", "EUR", "GBP", "ILS"}


def test_hebrew_mail_uses_every_israeli_charset_and_transfer_encoding(mailbox: list[SampleMessage]) -> None:
    charsets, encodings = set(), set()
    for message in mailbox:
        if message.truth.language == "he" and message.truth.kind != "malformed":
            for part in _parse(message).walk():
                if part.get_content_maintype() == "text":
                    charsets.add(part.get_content_charset())
                    encodings.add(part["Content-Transfer-Encoding"])
    assert {"windows-1255", "iso-8859-8", "utf-8"} <= charsets
    assert {"quoted-printable", "base64", "8bit"} <= encodings


def test_every_receipt_has_total_currency_and_date_in_its_truth(mailbox: list[SampleMessage]) -> None:
    for message in (m for m in mailbox if m.truth.is_receipt):
        truth = message.truth
        assert truth.vendor and truth.currency in {"USD", "EUR", "GBP", "ILS"}
        assert Decimal(truth.total or "x") != 0
        assert date.fromisoformat(truth.date or "x")
        assert (Decimal(truth.total or "0") < 0) == (truth.kind == "credit-note")


def test_every_wellformed_message_parses_and_its_text_decodes(mailbox: list[SampleMessage]) -> None:
    for message in (m for m in mailbox[:400] if m.truth.kind != "malformed"):
        parsed = _parse(message)
        assert all(parsed[h] for h in ("Message-ID", "From", "To", "Subject", "Date")), message.id
        assert not [p for p in parsed.walk() if p.defects], message.id
        assert parsedate_to_datetime(parsed["Date"]) == message.internal_date
        for charset, text in _texts(parsed):
            assert text.encode(charset)  # decoded with the declared charset, round-trips through it
        if message.truth.language == "he":
            assert HEBREW_LETTERS & set(str(parsed["Subject"]) + "".join(t for _, t in _texts(parsed)))


def test_hebrew_body_receipts_show_their_truth_in_the_decoded_text(mailbox: list[SampleMessage]) -> None:
    body_kinds = {"hebrew-tax-invoice", "hebrew-receipt", "hebrew-tax-invoice-receipt"}
    checked = 0
    for message in (m for m in mailbox if m.truth.kind in body_kinds):
        text = "\n".join(t for _, t in _texts(_parse(message)))
        assert f"{Decimal(message.truth.total or '0'):,.2f}" in text
        assert f"מספר {message.truth.document_number}" in text
        assert message.truth.vendor in text
        checked += 1
    assert checked > 50


def test_pdf_invoices_hold_their_number_and_total(mailbox: list[SampleMessage]) -> None:
    pdf_mail = [m for m in mailbox if m.truth.kind in {"pdf-invoice", "hebrew-pdf-invoice"}]
    for message in pdf_mail[:6] + [m for m in pdf_mail if m.truth.language == "he"][:6]:
        (pdf,) = [p for p in _parse(message).walk() if p.get_content_type() == "application/pdf"]
        text = PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
        assert message.truth.document_number in text
        assert f"{Decimal(message.truth.total or '0'):,.2f}" in text


def test_malformed_messages_are_marked_with_their_defect() -> None:
    messages = generate_messages(300, seed=2, start=START, end=END, malformed_share=0.5)
    broken = [m for m in messages if m.truth.kind == "malformed"]
    assert 100 < len(broken) < 200
    assert {m.truth.defect for m in broken} == {
        "broken-base64",
        "unknown-charset",
        "truncated-mime",
        "empty-attachment",
    }
    assert not any(m.truth.is_receipt for m in broken)


def test_truth_file_is_keyed_by_message_id_header_and_id(tmp_path: Path) -> None:
    messages = generate_messages(50, seed=4, start=START, end=END)
    write_truth(messages, tmp_path / "truth.jsonl")
    records = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in records] == [m.id for m in messages]
    for record, message in zip(records, messages, strict=True):
        assert str(_parse(message)["Message-ID"]) == record["message_id"]
        assert record["mbox_id"] == mbox_id(record["message_id"])
        assert record["total"] == message.truth.total and record["kind"] == message.truth.kind


def test_receipt_share_models_a_mailbox_with_fewer_receipts_and_keeps_the_default_mix_unchanged() -> None:
    sparse = generate_messages(3000, seed=5, receipt_share=0.1, malformed_share=0.0)
    share = sum(m.truth.is_receipt for m in sparse) / len(sparse)
    assert 0.08 < share < 0.12
    assert {m.truth.language for m in sparse if m.truth.is_receipt} == {"en", "he"}  # both kinds still present
    default = generate_messages(300, seed=5)
    assert [m.id for m in default] == [m.id for m in generate_messages(300, seed=5, receipt_share=None)]
    with pytest.raises(ValueError, match="receipt_share"):
        generate_messages(10, receipt_share=1.5)
