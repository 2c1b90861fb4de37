"""The incremental round's probe: one `getProfile` per mailbox that might be unchanged, a flow run only for the
mailboxes that need one, and every probe recorded on its mailbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from flows.incremental_syncs import plan_fan_out, probe_mailboxes
from models.base import utcnow
from models.business import Business
from models.db import session_scope
from models.ledger import DEFERRED, ProcessedMessage
from models.mailbox import MailboxConnection
from receipt_sync.settings import get_settings
from services.mailbox_probe import SWEEP_PENDING, Decision
from tests.fakes.gmail_server import FakeGmailServer

pytestmark = pytest.mark.usefixtures("sync_env")


def mailbox_of(business_id: int) -> MailboxConnection:
    with session_scope() as session:
        mailbox = session.query(MailboxConnection).filter_by(business_id=business_id).one()
        session.expunge(mailbox)
        return mailbox


def set_synced(business_id: int, history_id: str | None, hours_ago: float) -> None:
    with session_scope() as session:
        mailbox = session.query(MailboxConnection).filter_by(business_id=business_id).one()
        mailbox.sync_checkpoint = {"history_id": history_id} if history_id else None
        mailbox.last_synced_at = utcnow() - timedelta(hours=hours_ago)


def round_decisions() -> dict[int, Decision]:
    with session_scope() as session:
        plan = plan_fan_out(session, get_settings(), overdue_hours=24)
    return {d.business_id: d for d in probe_mailboxes.fn(plan.candidates, 24)}


def test_only_changed_never_synced_and_overdue_mailboxes_get_a_sync_and_only_probed_ones_cost_a_unit(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    unchanged, moved, never, overdue = (connect_business(n) for n in ("Same", "Moved", "Never", "Late"))
    current = gmail.history_id
    set_synced(unchanged, current, hours_ago=1)
    set_synced(moved, str(int(current) - 5), hours_ago=1)
    set_synced(never, None, hours_ago=1)
    set_synced(overdue, current, hours_ago=30)
    gmail.clear_requests()

    decisions = round_decisions()

    assert decisions[unchanged].sync_reason is None
    assert decisions[moved].sync_reason == "history id moved"
    assert decisions[never].sync_reason == "never completed a sync"
    assert decisions[overdue].sync_reason == "overdue"
    assert len(gmail.calls("getProfile")) == 2  # the two that might have been unchanged; nothing else
    assert not gmail.calls("messages.list") and not gmail.calls("history.list")
    probed = mailbox_of(unchanged)
    assert probed.last_probed_history_id == current and probed.last_probe_error is None
    assert probed.last_probed_at is not None and utcnow() - probed.last_probed_at < timedelta(minutes=5)
    assert mailbox_of(never).last_probed_at is None  # syncs anyway: not probed


def test_an_unchanged_probe_keeps_a_mailbox_from_counting_as_overdue(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    quiet = connect_business("Quiet")
    set_synced(quiet, gmail.history_id, hours_ago=1)
    assert round_decisions()[quiet].sync_reason is None
    set_synced(quiet, gmail.history_id, hours_ago=30)  # its last sync is old, but the probe just checked it

    with session_scope() as session:
        plan = plan_fan_out(session, get_settings(), overdue_hours=24)

    assert [m.business_id for m in plan.overdue] == []
    assert round_decisions()[quiet].sync_reason is None


def test_a_revoked_mailbox_is_flagged_needs_reauth_by_the_probe_and_gets_no_sync(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    gmail.add_refresh_token("1//rt-revoked-later")
    revoked = connect_business("Revoked", token="1//rt-revoked-later")
    set_synced(revoked, gmail.history_id, hours_ago=1)
    gmail.revoke("1//rt-revoked-later")

    decision = round_decisions()[revoked]

    assert decision.sync_reason is None and decision.probe is not None and decision.probe.auth_error
    mailbox = mailbox_of(revoked)
    assert mailbox.status == "needs_reauth" and mailbox.last_probe_error
    assert "1//rt-revoked-later" not in (mailbox.last_probe_error or "")


WALK = {"after": None, "before": "2026/12/01", "page_token": "page-2", "listed": 100, "estimate": 900}


def set_sweep(business_id: int, *, walk: dict | None = None, finished: bool = False, deferred: int = 0) -> None:
    with session_scope() as session:
        mailbox = session.query(MailboxConnection).filter_by(business_id=business_id).one()
        mailbox.sweep_cursor = walk
        mailbox.sweep_completed_at = utcnow() if finished else None
        for n in range(deferred):
            session.add(ProcessedMessage(business_id=business_id, message_id=f"deferred-{n}", outcome=DEFERRED))
        if finished:  # a message the sweep read: not a backlog
            session.add(ProcessedMessage(business_id=business_id, message_id="swept-1", outcome="not_receipt"))


def switch_sweep_off(business_id: int) -> None:
    with session_scope() as session:
        session.get(Business, business_id).sweep_enabled = False


def test_an_unchanged_mailbox_with_sweep_work_pending_gets_a_sync_without_a_probe(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    walking, backlog, idle = (connect_business(n) for n in ("Walking", "Backlog", "Idle"))
    for business_id in (walking, backlog, idle):
        set_synced(business_id, gmail.history_id, hours_ago=1)
    set_sweep(walking, walk=WALK)  # a walk left yielded, failed or unfinished
    set_sweep(backlog, finished=True, deferred=3)  # the walk is done, but new mail was deferred to the sweep
    set_sweep(idle, finished=True)
    gmail.clear_requests()

    decisions = round_decisions()

    assert decisions[walking].sync_reason == SWEEP_PENDING
    assert decisions[backlog].sync_reason == SWEEP_PENDING
    assert decisions[idle].sync_reason is None  # unchanged, nothing left to sweep: no flow run
    assert len(gmail.calls("getProfile")) == 1  # only the idle one was probed
    assert mailbox_of(idle).last_probed_at is not None and mailbox_of(walking).last_probed_at is None


def test_a_finished_or_switched_off_sweep_gets_no_sync_and_costs_one_probe_each(
    gmail: FakeGmailServer, connect_business: Callable[..., int]
) -> None:
    finished, off_walking, off_backlog = (connect_business(n) for n in ("Finished", "OffWalk", "OffBacklog"))
    for business_id in (finished, off_walking, off_backlog):
        set_synced(business_id, gmail.history_id, hours_ago=1)
    set_sweep(finished, walk=WALK)
    set_sweep(finished, walk=None, finished=True)  # the walk's last page: the cursor is cleared, not deleted
    set_sweep(off_walking, walk=WALK)
    set_sweep(off_backlog, deferred=2)
    switch_sweep_off(off_walking)
    switch_sweep_off(off_backlog)
    gmail.clear_requests()

    decisions = round_decisions()

    assert {b: decisions[b].sync_reason for b in (finished, off_walking, off_backlog)} == dict.fromkeys(
        (finished, off_walking, off_backlog)
    )
    assert len(gmail.calls("getProfile")) == 3
    assert not gmail.calls("messages.list") and not gmail.calls("history.list")
