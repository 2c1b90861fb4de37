"""The default listing query: a full sync only fetches what it lists, so a receipt it misses is lost."""

from __future__ import annotations

from receipt_sync.mail.gmail import build_query
from receipt_sync.mail.receipt_query import RECEIPT_QUERY
from receipt_sync.samples import generate_messages
from tests.fakes.gmail_payload import search_fields
from tests.fakes.gmail_query import parse_query


def test_the_default_query_lists_every_generated_receipt_and_leaves_out_most_other_mail() -> None:
    matches = parse_query(build_query(None, None, RECEIPT_QUERY))
    messages = list(generate_messages(1500, seed=11))
    listed = {m.id for m in messages if matches(search_fields(m.raw, frozenset(m.label_ids), 0))}

    receipts = {m.id for m in messages if m.truth.is_receipt}
    assert receipts <= listed
    ordinary = [m for m in messages if m.truth.kind in {"marketing", "newsletter", "personal"}]
    assert ordinary and not any(m.id in listed for m in ordinary)
