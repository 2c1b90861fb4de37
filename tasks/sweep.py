"""The sweep: after the receipt query's messages, the rest of the mailbox, read with the quota left over.

The receipt query decides the order in which messages are read, not whether: once a run's own pages are
done, it reads the messages left to the sweep (new mail the query did not match, `deferred` in the ledger)
and walks the window of the last full sync page by page, skipping everything the ledger holds. The walk's
place is kept on the mailbox, so a run that yields (a sync someone asked for needs the mailbox) or fails is
resumed by a later run. A business can switch the sweep off (`business.sweep_enabled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import task
from sqlalchemy.orm import Session

from models.db import session_scope
from models.mailbox import MailboxConnection
from models.queries.mailboxes import save_mailbox_checkpoint
from models.queries.sweep import count_deferred, start_walk, sweep_enabled
from models.queries.sync_runs import get_sync_run
from models.runs import SyncRun
from tasks.cursor import MailboxCursor, sweep_cursor
from tasks.retry import transient_retries
from tasks.sync_pages import PageOutcome, process_page


@dataclass(frozen=True)
class SweepPlan:
    """Where a run's sweep starts."""

    cursor: MailboxCursor | None  # the first sweep page; None: nothing to sweep
    note: str  # said in the run's log


@task(name="plan-sweep", **transient_retries())
def plan_sweep(run_id: int, listed: MailboxCursor | None, history_id: str | None) -> SweepPlan:
    """Where the run's sweep starts, saved with the mailbox's incremental starting point (so a run stopped
    during its sweep has already moved it). A full listing by the receipt query starts a walk of its window
    when none is pending; `listed` is the first cursor of the run's own pages."""
    with session_scope() as session:
        run = get_sync_run(session, run_id)
        mailbox = session.get(MailboxConnection, run.mailbox_id) if run.mailbox_id else None
        if mailbox is None:
            return SweepPlan(None, "no mailbox")
        if history_id:  # and when it was read (at the latest): where the next run's listing of new mail starts
            started = (run.started_at or datetime.now(UTC)).isoformat()
            save_mailbox_checkpoint(session, mailbox.id, {"history_id": history_id, "history_at": started})
        if not sweep_enabled(session, run.business_id):
            run.sweep_status = "off"
            return SweepPlan(None, "switched off for this business: only what the receipt query lists is read")
        note = _begin_walk(session, run, mailbox, listed)
        cursor = _first_cursor(session, run.business_id, mailbox)
        run.sweep_status = "running" if cursor else "done"
        return SweepPlan(cursor, note if cursor else "nothing left to sweep")


def _begin_walk(session: Session, run: SyncRun, mailbox: MailboxConnection, listed: MailboxCursor | None) -> str:
    if mailbox.sweep_cursor is not None:
        return "resuming the sweep where it stopped"
    if listed is None or listed.phase != "full" or listed.remaining is not None:
        return "reading the mail left to the sweep"
    if not (listed.query or "").strip() or mailbox.provider != "gmail":  # an mbox or a folder lists everything
        mailbox.sweep_completed_at = run.started_at  # the listing was the whole window: nothing else to read
        return "the listing had no query: nothing else to read"
    before = listed.before or (run.started_at or datetime.now(UTC)).isoformat()
    start_walk(session, mailbox, listed.after, before, run.mailbox_messages)
    return "sweeping the rest of the window"


def _first_cursor(session: Session, business_id: int, mailbox: MailboxConnection) -> MailboxCursor | None:
    """The backlog of deferred messages first (new mail, few), then the window walk."""
    if count_deferred(session, business_id):
        return MailboxCursor(phase="deferred", business_id=business_id, mailbox_id=mailbox.id)
    if mailbox.sweep_cursor is not None:
        return sweep_cursor(business_id, mailbox.id, mailbox.sweep_cursor)
    return None


@task(
    name="sweep-page",
    task_run_name="sweep-page-{page_number}",
    **transient_retries(),
)
def sweep_page(run_id: int, cursor: MailboxCursor, page_number: int) -> PageOutcome:
    """One page of the sweep: ids the ledger holds are skipped unfetched; the rest are fetched a few at a time
    until the run is asked to yield, analysed and stored with the walk's new place in one transaction."""
    return process_page(run_id, cursor)
