"""The sweep: after the receipt query's messages, a sync reads the rest of the mailbox, so the query decides the
order in which mail is read, not whether. Real googleapiclient against the fake Gmail, real Prefect, PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from flows.gmail_sync import gmail_sync
from models.db import session_scope
from receipt_sync.mail.gmail import build_query
from receipt_sync.mail.receipt_query import RECEIPT_QUERY
from receipt_sync.mail.search import parse_query
from receipt_sync.polling import poll_until
from services.sweep import sweep_state, switch_sweep
from tests.conftest import SettingsOverride
from tests.factories import stored_receipts, sync_runs
from tests.fakes.gmail_payload import search_fields
from tests.fakes.gmail_server import FakeGmailServer, FakeMessage
from tests.fixtures.mailbox import load, receipt_ids, sample_messages

OLD = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)  # older than the generated mail: the walk's last page


def missed_receipt() -> bytes:
    """A shop's confirmation worded so that no term of the receipt query lists it (issue 14's finding), which
    the extractor still recognises ('thanks for shopping', a total)."""
    mail = EmailMessage()
    mail["From"] = "Northwind Supplies <shop@northwind.example>"
    mail["To"] = "owner@acme.example"
    mail["Subject"] = "Northwind Supplies: thanks for shopping with us (NO-2026-339305)"
    mail["Date"] = "Mon, 06 Jan 2025 09:30:00 +0000"
    mail.set_content(
        "We have received your order NO-2026-339305.\n\n2 x Printer paper A4   18.00\nSubtotal 36.00 USD\n"
        "Tax 3.60 USD\nTotal 39.60 USD\n\nThank you for shopping with us.\nNorthwind Supplies Ltd\n"
    )
    return mail.as_bytes()


def _mailbox(gmail: FakeGmailServer, count: int, seed: int) -> tuple[set[str], set[str], str]:
    """(every id, the ids the receipt query lists, the missed receipt's id), with the query's receipts."""
    messages = [m for m in sample_messages(count, seed=seed) if m.truth.kind != "malformed"]
    load(gmail, messages)
    missed = gmail.add_message(missed_receipt(), internal_date=OLD)
    matches = parse_query(build_query(None, None, RECEIPT_QUERY))
    listed = {m.id for m in messages if matches(search_fields(m.raw, frozenset(m.label_ids), 0))}
    assert receipt_ids(messages) <= listed and missed not in listed
    return {m.id for m in messages} | {missed}, listed, missed


def _fetched(gmail: FakeGmailServer) -> list[str]:
    """Message ids of the successful fetches, in the order Gmail answered them."""
    calls = [r for r in gmail.calls("messages.get") if r.status == 200]
    return [r.target.split("?")[0].rsplit("/", 1)[-1] for r in calls]


def _is_sweep_listing(method: str, target: str) -> bool:
    """A listing of the whole window (no receipt query in `q`)."""
    q = parse_qs(urlsplit(target).query).get("q", [""])[0]
    return method == "messages.list" and "receipt" not in q


@pytest.fixture
def receipt_query(sync_env: dict[str, str], override_settings: SettingsOverride) -> None:
    override_settings({"GMAIL_RECEIPT_QUERY": None, "GMAIL_BATCH_SIZE": "10"})  # the default query


def test_a_receipt_the_query_misses_is_stored_by_the_sweep_after_the_query_s_mail(
    gmail: FakeGmailServer, connect_business: Callable[..., int], receipt_query: None
) -> None:
    every, listed, missed = _mailbox(gmail, 40, seed=51)
    business_id = connect_business()

    summary = gmail_sync(business_id=business_id, mode="full")

    assert missed in stored_receipts(business_id)
    fetched = _fetched(gmail)
    assert Counter(fetched).most_common(1)[0][1] == 1 and set(fetched) == every  # all read, each once
    assert set(fetched[: len(listed)]) == listed  # what the query lists is read first
    assert summary["sweep_status"] == "done" and summary["sweep_receipts_saved"] >= 1
    with session_scope() as session:
        assert sweep_state(session, business_id).state == "done"


def test_a_business_with_the_sweep_switched_off_reads_only_what_the_query_lists(
    gmail: FakeGmailServer, connect_business: Callable[..., int], receipt_query: None
) -> None:
    _, listed, missed = _mailbox(gmail, 40, seed=52)
    business_id = connect_business()
    with session_scope() as session:
        switch_sweep(session, business_id, False)

    summary = gmail_sync(business_id=business_id, mode="full")

    assert set(_fetched(gmail)) == listed and missed not in stored_receipts(business_id)
    assert not any(_is_sweep_listing(r.method, r.target) for r in gmail.requests)
    assert summary["sweep_status"] == "off"


def test_the_sweep_resumes_where_it_stopped_in_the_next_run(
    gmail: FakeGmailServer, connect_business: Callable[..., int], receipt_query: None
) -> None:
    """Gmail's daily limit stops the first run in the middle of its sweep; the next sync lists on from the page
    where it stopped (the first pages are not listed again) and reads nothing twice."""
    every, _, missed = _mailbox(gmail, 60, seed=53)
    business_id = connect_business()
    sweep_listings: list[str] = []

    def daily_limit_on_the_sweep_s_second_page(method: str, target: str) -> None:
        if _is_sweep_listing(method, target):
            sweep_listings.append(target)
            if len(sweep_listings) == 2:
                gmail.fail_next(1, status=403, reason="dailyLimitExceeded", method="messages.list")

    gmail.before_call = daily_limit_on_the_sweep_s_second_page
    with pytest.raises(Exception, match=r"(?i)daily|limit"):
        gmail_sync(business_id=business_id, mode="full")
    first = sync_runs(business_id)[-1]
    assert first.status == "failed" and first.sweep_status == "running" and first.sweep_messages_fetched > 0
    stopped_at = parse_qs(urlsplit(sweep_listings[1]).query)["pageToken"]
    read_first = _fetched(gmail)

    gmail.before_call = None
    gmail.clear_requests()
    summary = gmail_sync(business_id=business_id, mode="incremental")

    resumed = [r.target for r in gmail.requests if _is_sweep_listing(r.method, r.target)]
    assert parse_qs(urlsplit(resumed[0]).query)["pageToken"] == stopped_at  # not from the first page again
    assert summary["sweep_status"] == "done" and missed in stored_receipts(business_id)
    read_next = _fetched(gmail)
    assert not set(read_first) & set(read_next) and set(read_first) | set(read_next) == every
    with session_scope() as session:
        state = sweep_state(session, business_id)
    assert state.state == "done" and state.completed_at is not None


def test_a_sync_someone_asks_for_interrupts_the_sweep_which_a_later_run_resumes(
    gmail: FakeGmailServer, connect_business: Callable[..., int], receipt_query: None
) -> None:
    every, listed, missed = _mailbox(gmail, 60, seed=54)
    business_id = connect_business()
    asked: list[threading.Thread] = []
    outcomes: list[dict] = []

    def ask_for_a_sync_while_the_sweep_fetches(method: str, target: str) -> None:
        message_id = target.split("?")[0].rsplit("/", 1)[-1]
        if method == "messages.get" and message_id not in listed and not asked:
            asked.append(threading.Thread(target=lambda: outcomes.append(gmail_sync(business_id, "incremental"))))
            asked[0].start()
            poll_until(
                lambda: sync_runs(business_id)[0].sweep_status == "yielded", what="the sweep to yield", timeout=120
            )

    gmail.before_call = ask_for_a_sync_while_the_sweep_fetches
    first = gmail_sync(business_id=business_id, mode="full")
    asked[0].join(timeout=300)

    second = outcomes[0]
    assert first["status"] == "completed" and first["sweep_status"] == "yielded"
    assert second["status"] == "completed" and second["sweep_status"] == "done"
    runs = sync_runs(business_id)
    assert runs[0].sweep_messages_fetched > 0 and runs[1].sweep_messages_fetched > 0  # each read part of it
    fetched = _fetched(gmail)
    assert Counter(fetched).most_common(1)[0][1] == 1 and set(fetched) == every
    assert missed in stored_receipts(business_id)


# ----- incremental syncs spend by the query too -------------------------------------------------------------


def _arrive(gmail: FakeGmailServer, messages: list, at: datetime | None = None) -> list[str]:
    """New mail landing now (or with the internal date `at`, like an import of old mail)."""
    moment = at or datetime.now(UTC)
    return [gmail.add_message(FakeMessage(m.raw, m.id, m.thread_id, moment, m.label_ids)) for m in messages]


def _query_lists(messages: list) -> set[str]:
    matches = parse_query(build_query(None, None, RECEIPT_QUERY))
    return {m.id for m in messages if matches(search_fields(m.raw, frozenset(m.label_ids), 0))}


def test_an_incremental_sync_reads_the_new_mail_the_query_lists_and_leaves_the_rest_to_the_sweep(
    gmail: FakeGmailServer, connect_business: Callable[..., int], receipt_query: None
) -> None:
    messages = [m for m in sample_messages(50, seed=61) if m.truth.kind != "malformed"]
    load(gmail, messages[:30])
    business_id = connect_business()
    with session_scope() as session:
        switch_sweep(session, business_id, False)  # what the query leaves is then never read
    gmail_sync(business_id=business_id, mode="full")
    gmail.clear_requests()

    unchanged = gmail_sync(business_id=business_id, mode="incremental")
    assert [r.method for r in gmail.requests if r.method != "token"] == ["getProfile"]
    assert sync_runs(business_id)[-1].quota_units == 1 and unchanged["messages_scanned"] == 0

    new = messages[30:]
    _arrive(gmail, new)
    gmail.clear_requests()
    gmail_sync(business_id=business_id, mode="incremental")

    listed = _query_lists(new)
    assert listed and listed < {m.id for m in new}
    assert sorted(_fetched(gmail)) == sorted(listed)  # the rest is not fetched
    (listing,) = [unquote_plus(r.target) for r in gmail.calls("messages.list")]
    assert "after:" in listing and "receipt" in listing
    assert receipt_ids(new) <= set(stored_receipts(business_id))
    with session_scope() as session:
        assert sweep_state(session, business_id).deferred_messages == len(new) - len(listed)


def test_new_mail_the_query_misses_and_an_import_with_an_old_date_are_read_by_the_sweep(
    gmail: FakeGmailServer, connect_business: Callable[..., int], receipt_query: None
) -> None:
    """Gmail's `after:` reads the internal date: an imported old receipt is in the history but not in the query's
    listing of new mail. It is left to the sweep, like the mail the query does not match, not lost."""
    messages = [m for m in sample_messages(50, seed=62) if m.truth.kind != "malformed"]
    load(gmail, messages[:30])
    business_id = connect_business()
    gmail_sync(business_id=business_id, mode="full")
    new = messages[30:]
    _arrive(gmail, new)
    old_receipt = next(m for m in sample_messages(30, seed=63) if m.truth.is_receipt and m.truth.kind != "malformed")
    (imported,) = _arrive(gmail, [replace(old_receipt, id=None)], at=OLD)
    gmail.clear_requests()

    summary = gmail_sync(business_id=business_id, mode="incremental")

    listed = _query_lists(new)
    fetched = _fetched(gmail)
    assert set(fetched[: len(listed)]) == listed  # what the query lists first
    assert set(fetched) == {m.id for m in new} | {imported} and len(fetched) == len(set(fetched))
    assert imported in stored_receipts(business_id) and receipt_ids(new) <= set(stored_receipts(business_id))
    assert summary["sweep_status"] == "done"
    with session_scope() as session:
        assert sweep_state(session, business_id).deferred_messages == 0
