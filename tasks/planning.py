"""Deciding where a sync starts: resume a checkpoint, read Gmail's history, or list the whole window.

An unchanged mailbox is detected with one cheap `getProfile` call (its history id equals the stored one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from prefect import task

from models.db import session_scope
from models.mailbox import MailboxCheckpoint
from models.queries.message_errors import retryable_message_ids
from models.queries.sync_runs import get_sync_run
from models.runs import SyncCheckpoint, SyncParameters
from receipt_sync.settings import get_settings
from tasks.cursor import MailboxCursor
from tasks.progress import run_progress
from tasks.retry import transient_retries
from tasks.sources import mail_source, quota_units

DAYS_PER_MONTH = 30.44
SINCE_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class SyncPlan:
    """Where a sync starts, saved as the run's checkpoint (`checkpoint`) before its first page."""

    cursor: MailboxCursor | None  # the first page to process; None: nothing to list
    history_id: str | None  # the mailbox's incremental starting point once the run completes
    note: str  # said in the run's log

    def checkpoint(self) -> SyncCheckpoint:
        return {"cursor": self.cursor.to_dict() if self.cursor else None, "history_id": self.history_id}


def sync_window(parameters: SyncParameters, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """`[after, before)` of a run: `range` is inclusive of both dates; otherwise the last `months_back` months."""
    if parameters.get("mode") == "range":
        start, end = parameters.get("from_date"), parameters.get("to_date")
        after = datetime.combine(date.fromisoformat(start), time(), UTC) if start else None
        before = datetime.combine(date.fromisoformat(end) + timedelta(days=1), time(), UTC) if end else None
        return after, before
    months = int(parameters.get("months_back") or 36)
    return (now or datetime.now(UTC)) - timedelta(days=months * DAYS_PER_MONTH), None


def _full_cursor(run_id: int, business_id: int, mailbox_id: int, parameters: SyncParameters) -> MailboxCursor:
    after, before = sync_window(parameters)
    return MailboxCursor(
        phase="full",
        business_id=business_id,
        mailbox_id=mailbox_id,
        after=after.isoformat() if after else None,
        before=before.isoformat() if before else None,
        query=get_settings().gmail_receipt_query,
        remaining=parameters.get("max_messages"),
        retry_failed=bool(parameters.get("reprocess_failed")),
    )


@task(
    name="plan-sync",
    **transient_retries(),
)
def plan_sync(run_id: int, mailbox_checkpoint: MailboxCheckpoint | None, force_full: bool = False) -> SyncPlan:
    """Choose the first page; the plan is saved as the run's checkpoint so a rerun resumes from it."""
    with session_scope() as session:
        run = get_sync_run(session, run_id)
        business_id, mailbox_id, mode = run.business_id, run.mailbox_id or 0, run.mode
        parameters: SyncParameters = {**(run.parameters or {})}
        checkpoint: SyncCheckpoint = {**(run.checkpoint or {})}
    if "cursor" in checkpoint and not force_full:
        cursor = MailboxCursor.stored(checkpoint["cursor"])
        return SyncPlan(cursor, checkpoint.get("history_id"), "resuming from the run's checkpoint")
    plan = _fresh_plan(run_id, business_id, mailbox_id, mode, parameters, mailbox_checkpoint, force_full)
    source = mail_source(mailbox_id, str(run_id))
    with session_scope() as session:
        run = get_sync_run(session, run_id)
        run.checkpoint = plan.checkpoint()
        run.mailbox_messages = getattr(source, "messages_total", None)  # Gmail's profile says; an mbox cannot
    return plan


def _fresh_plan(
    run_id: int,
    business_id: int,
    mailbox_id: int,
    mode: str,
    parameters: SyncParameters,
    mailbox_checkpoint: MailboxCheckpoint | None,
    force_full: bool,
) -> SyncPlan:
    source = mail_source(mailbox_id, str(run_id))
    full = _full_cursor(run_id, business_id, mailbox_id, {**parameters, "mode": mode})
    stored = (mailbox_checkpoint or {}).get("history_id")
    if mode == "range":
        return SyncPlan(full, None, "range sync of the requested dates")
    current = source.current_history_id()
    run_progress(run_id).spent(quota_units(source, "profile"))
    if full.retry_failed:
        return SyncPlan(full, current, "reprocessing failed messages: full pass of the window")
    if mode == "full" or force_full:
        note = "history id expired: full sync of the window instead" if force_full else "full sync of the window"
        return SyncPlan(full, current, note)
    if not stored or current is None:
        return SyncPlan(full, current, "no stored history id yet: full sync of the window")
    if str(current) == str(stored) and not _has_retryable(business_id):
        return SyncPlan(None, stored, "mailbox unchanged since the last sync")
    cursor = MailboxCursor(
        phase="history",
        business_id=business_id,
        mailbox_id=mailbox_id,
        start_history_id=stored,
        after=_listed_since((mailbox_checkpoint or {}).get("history_at")),
        query=get_settings().gmail_receipt_query,
    )
    return SyncPlan(cursor, current, f"incremental sync from history id {stored}")


def _listed_since(history_at: str | None) -> str | None:
    """Where the receipt query's listing of new mail starts: a margin before the stored history id was read
    (mail lands in Gmail a little after its internal date); None when unknown (then every new message is read)."""
    if not history_at:
        return None
    return (datetime.fromisoformat(history_at) - SINCE_MARGIN).isoformat()


def _has_retryable(business_id: int) -> bool:
    """Messages that failed for a transient reason are retried even when no new mail arrived."""
    with session_scope() as session:
        return bool(retryable_message_ids(session, business_id, 1))
