"""The default listing query: a full sync only fetches what it lists, so a receipt it misses is lost."""

from __future__ import annotations

from receipt_sync.mail.gmail import build_query
from receipt_sync.mail.receipt_query import RECEIPT_QUERY
from receipt_sync.mail.search import listed_by, parse_query
from receipt_sync.mime import parse_email
from receipt_sync.samples import generate_messages
from tests.fakes.gmail_payload import search_fields


def test_the_default_query_lists_every_generated_receipt_and_leaves_out_most_other_mail() -> None:
    matches = parse_query(build_query(None, None, RECEIPT_QUERY))
    messages = list(generate_messages(1500, seed=11))
    listed = {m.id for m in messages if matches(search_fields(m.raw, frozenset(m.label_ids), 0))}

    receipts = {m.id for m in messages if m.truth.is_receipt}
    assert receipts <= listed
    ordinary = [m for m in messages if m.truth.kind in {"marketing", "newsletter", "personal"}]
    assert ordinary and not any(m.id in listed for m in ordinary)


def test_extract_s_listing_verdict_agrees_with_what_the_fake_gmail_lists() -> None:
    """`receipts extract` judges from the parsed email; the fake Gmail from the raw MIME: they must agree."""
    matches = parse_query(RECEIPT_QUERY)
    messages = [m for m in generate_messages(600, seed=3) if m.truth.kind != "malformed"]
    verdicts = [
        (listed_by(RECEIPT_QUERY, parse_email(m.raw)), matches(search_fields(m.raw, frozenset(), 0))) for m in messages
    ]
    assert all(ours == gmail for ours, gmail in verdicts)
    assert {ours for ours, _ in verdicts} == {True, False}  # both outcomes occur
