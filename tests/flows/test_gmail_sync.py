"""The gmail-sync flow against the fake Gmail server, through the real googleapiclient, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from email.message import EmailMessage
from urllib.parse import unquote_plus

import pytest
from sqlalchemy import select

from flows.gmail_sync import gmail_sync
from models import MailboxConnection, ReceiptDocument
from models.db import session_scope
from receipt_sync.errors import MailboxAuthError
from receipt_sync.mail.receipt_query import RECEIPT_TERMS
from receipt_sync.storage import open_storage
from tests.conftest import SettingsOverride
from tests.factories import REFRESH_TOKEN, stored_receipts, sync_runs
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages, well_formed_stored


def test_full_sync_stores_exactly_the_mailbox_receipts_with_their_fields(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    messages = [m for m in sample_messages(90) if m.truth.kind != "malformed"]
    load(gmail, messages)
    business_id = connect_business()

    summary = gmail_sync(business_id=business_id, mode="full")

    stored = stored_receipts(business_id)
    expected = {m.id: m.truth for m in messages if m.truth.is_receipt}
    assert set(stored) == set(expected)
    for message_id, truth in expected.items():
        receipt = stored[message_id]
        assert receipt.total == Decimal(truth.total or "0"), message_id
        assert receipt.currency == truth.currency, message_id
    assert summary["status"] == "completed"
    assert summary["receipts_saved"] == len(expected)
    assert summary["messages_scanned"] == len(messages)


def test_default_receipt_query_reads_the_listed_mail_first_and_the_rest_only_in_the_sweep(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    messages = [m for m in sample_messages(120) if m.truth.kind != "malformed"]
    load(gmail, messages)
    business_id = connect_business()
    override_settings({"GMAIL_RECEIPT_QUERY": None})

    summary = gmail_sync(business_id=business_id, mode="full")

    expected = {m.id for m in messages if m.truth.is_receipt}
    assert set(stored_receipts(business_id)) == expected
    listings = [unquote_plus(call.target) for call in gmail.calls("messages.list")]
    by_query = [target for target in listings if RECEIPT_TERMS[0] in target]
    assert by_query and listings[: len(by_query)] == by_query  # the query's listing first, then the sweep's
    fetched = [call.target.split("?")[0].rsplit("/", 1)[-1] for call in gmail.calls("messages.get")]
    listed = fetched[: summary["messages_scanned"]]
    assert expected <= set(listed) < {m.id for m in messages}  # the marketing and personal mail is not listed...
    assert set(fetched) == {m.id for m in messages}  # ... and read only by the sweep, after the listed mail
    assert summary["sweep_status"] == "done"


def test_second_sync_fetches_and_stores_nothing_new(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    load(gmail, sample_messages(50))
    business_id = connect_business()
    gmail_sync(business_id=business_id, mode="full")
    before = stored_receipts(business_id)
    gmail.clear_requests()

    summary = gmail_sync(business_id=business_id, mode="full")

    assert summary["receipts_saved"] == 0
    assert summary["duplicates_skipped"] == 50
    assert gmail.calls("messages.get") == []
    assert set(stored_receipts(business_id)) == set(before)


def test_incremental_sync_stores_only_new_mail_and_costs_one_call_when_unchanged(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    first, later = sample_messages(40, seed=3), sample_messages(12, seed=4)
    load(gmail, first)
    business_id = connect_business()
    gmail_sync(business_id=business_id, mode="full")
    before = stored_receipts(business_id)
    gmail.clear_requests()

    unchanged = gmail_sync(business_id=business_id, mode="incremental")
    api_calls = [r.method for r in gmail.requests if r.method != "token"]
    assert api_calls == ["getProfile"]
    assert unchanged["messages_scanned"] == 0

    load(gmail, later)
    summary = gmail_sync(business_id=business_id, mode="incremental")

    assert summary["messages_scanned"] == len(later)
    assert summary["receipts_saved"] == len(set(stored_receipts(business_id)) - set(before))
    everything = first + later
    assert well_formed_stored(set(stored_receipts(business_id)), everything) == receipt_ids(everything)


def test_expired_history_falls_back_to_a_full_sync_of_the_window(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    first, later = sample_messages(20, seed=5), sample_messages(10, seed=6)
    load(gmail, first)
    business_id = connect_business()
    gmail_sync(business_id=business_id, mode="full")
    load(gmail, later)
    gmail.expire_history()

    summary = gmail_sync(business_id=business_id, mode="incremental")

    assert summary["status"] == "completed"
    everything = first + later
    assert well_formed_stored(set(stored_receipts(business_id)), everything) == receipt_ids(everything)
    assert summary["duplicates_skipped"] == len(first)  # the full pass fetched only what was new


def test_rate_limits_and_server_errors_are_retried_until_the_run_completes(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    messages = sample_messages(60, seed=8)
    load(gmail, messages)
    business_id = connect_business()
    gmail.fail_next(3, status=429, retry_after=0.1)
    gmail.fail_next(2, status=503)
    gmail.error_rate = 0.1

    summary = gmail_sync(business_id=business_id, mode="full")

    assert summary["status"] == "completed"
    assert well_formed_stored(set(stored_receipts(business_id)), messages) == receipt_ids(messages)
    assert any(r.status in (429, 500, 503) for r in gmail.requests)


def test_revoked_token_fails_once_and_asks_for_reconnection(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    load(gmail, sample_messages(10))
    business_id = connect_business()
    gmail.revoke(REFRESH_TOKEN)
    gmail.clear_requests()

    with pytest.raises(MailboxAuthError) as raised:
        gmail_sync(business_id=business_id, mode="full")

    assert "reconnect" in str(raised.value).lower()
    assert REFRESH_TOKEN not in repr(raised.value)
    assert len(gmail.calls("token")) == 1  # a permanent error is not retried
    (run,) = sync_runs(business_id)
    assert run.status == "failed"
    assert "reconnect" in (run.error_message or "").lower()
    with session_scope() as session:
        mailbox = session.scalars(select(MailboxConnection).where(MailboxConnection.business_id == business_id)).one()
        assert mailbox.status == "needs_reauth"
    with pytest.raises(MailboxAuthError):  # later syncs stop until the mailbox is reconnected
        gmail_sync(business_id=business_id, mode="incremental")


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_documents_of_stored_receipts_are_in_storage(
    gmail: FakeGmailServer,
    connect_business: Callable[..., int],
    backend: str,
    request: pytest.FixtureRequest,
    override_settings: SettingsOverride,
) -> None:
    if backend == "s3":
        bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_endpoint")
        override_settings({"STORAGE_URL": f"s3://{bucket}/receipts", "S3_ENDPOINT_URL": endpoint})
    messages = sample_messages(30, seed=9)
    load(gmail, messages)
    business_id = connect_business()
    gmail_sync(business_id=business_id, mode="full")

    with session_scope() as session:
        documents = session.scalars(select(ReceiptDocument).where(ReceiptDocument.business_id == business_id)).all()
    storage = open_storage()
    assert {d.receipt_id for d in documents} == {r.id for r in stored_receipts(business_id).values()}
    for document in documents:
        assert len(storage.get(document.storage_key)) == document.size_bytes
        assert document.storage_key.startswith(f"businesses/{business_id}/documents/")


def test_range_sync_stores_only_the_receipts_received_in_its_dates(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    messages = [m for m in sample_messages(80, seed=13) if m.truth.kind != "malformed"]
    load(gmail, messages)
    business_id = connect_business()
    days = sorted({m.internal_date.date() for m in messages})
    start, end = days[len(days) // 4], days[3 * len(days) // 4]

    summary = gmail_sync(business_id=business_id, mode="range", from_date=start, to_date=end)

    inside = [m for m in messages if start <= m.internal_date.date() <= end]
    assert 0 < len(inside) < len(messages)
    assert summary["messages_scanned"] == len(inside)
    assert set(stored_receipts(business_id)) == receipt_ids(inside)


def test_borderline_candidate_is_stored_for_review_and_a_plain_non_receipt_is_not(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    """A receipt with no amount in its text is neither surely a receipt nor surely not: it reaches a person."""
    borderline = EmailMessage()
    borderline["From"], borderline["To"] = "Acme Store <billing@acme-store.example>", "dana@example.com"
    borderline["Subject"], borderline["Date"] = "Your receipt", "Tue, 03 Mar 2026 10:00:00 +0000"
    borderline.set_content("Hello,\nOrder number: 88123\nThe details are in your account.\n")
    chat = EmailMessage()
    chat["From"], chat["To"] = "Acme Store <news@acme-store.example>", "dana@example.com"
    chat["Subject"], chat["Date"] = "Spring is here", "Tue, 03 Mar 2026 11:00:00 +0000"
    chat.set_content("New colours in the shop this week.\n")
    review_id, other_id = gmail.add_message(borderline.as_bytes()), gmail.add_message(chat.as_bytes())
    business_id = connect_business()

    gmail_sync(business_id=business_id, mode="full")

    stored = stored_receipts(business_id)
    assert other_id not in stored
    assert stored[review_id].status == "needs_review"
    assert stored[review_id].reasons[0].startswith("Needs review")


def test_a_flow_run_whose_trigger_was_rolled_back_ends_cancelled_without_syncing(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    """The orphan of a trigger that lost Prefect's answer: its sync run id names no record (ids are never reused)."""
    load(gmail, sample_messages(5))
    business_id = connect_business()
    gmail.clear_requests()

    state = gmail_sync(business_id=business_id, mode="incremental", sync_run_id=987_654, return_state=True)

    assert state.is_cancelled(), state
    assert "sync run 987654 does not exist" in (state.message or "")
    assert sync_runs(business_id) == [] and stored_receipts(business_id) == {}
    assert gmail.requests == []
