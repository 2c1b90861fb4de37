"""Run-record tasks: opening (claiming) a sync run, keeping its heartbeat, and closing it.

The sync run row is what the product UI reads, so it is written as the run goes and closed on every path:
completed, failed (with a message a user can act on) or cancelled.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from uuid import UUID

from prefect import task
from prefect.client.orchestration import get_client
from sqlalchemy.orm import Session

from models.db import session_scope
from models.deletion import DeletionRun
from models.mailbox import MailboxCheckpoint
from models.queries.businesses import get_business
from models.queries.deletions import active_deletion_run
from models.queries.mailboxes import mailbox_for_business, mark_needs_reauth, save_mailbox_checkpoint
from models.queries.sync_runs import (
    active_sync_run,
    create_sync_run,
    fail_if_stale,
    finish_run,
    get_sync_run,
    heartbeat,
    mark_running,
    stale_thresholds,
    sync_run_by_flow_run,
)
from models.runs import SyncCheckpoint, SyncParameters, SyncRun
from receipt_sync.errors import (
    DeletionAlreadyRunning,
    MailboxAuthError,
    NotFoundError,
    RunRecordMissing,
    SyncAlreadyRunning,
)
from receipt_sync.jsontypes import JsonObject
from receipt_sync.polling import repeating
from receipt_sync.settings import get_settings
from services.sweep import yield_sweep
from tasks.progress import run_progress


@dataclass(frozen=True)
class OpenedRun:
    """The run a flow run works on, and where its mailbox's incremental sync starts."""

    run_id: int
    mailbox_id: int
    checkpoint: SyncCheckpoint | None
    mailbox_checkpoint: MailboxCheckpoint | None
    took_over_stale_run: bool = False


def _claim(session: Session, run: SyncRun, flow_run_id: str | None) -> bool:
    """Whether this flow run may work on `run`; stale runs of a lost worker are taken over."""
    if run.status == "completed":
        return False
    if run.status == "running" and run.flow_run_id not in (None, flow_run_id):
        stale = fail_if_stale(session, run, **stale_thresholds(get_settings()))
        if not stale:
            raise SyncAlreadyRunning(f"sync run {run.id} is running in flow run {run.flow_run_id}", run.id)
    return True


@task(name="open-sync-run")
def open_sync_run(
    business_id: int, mode: str, parameters: SyncParameters, sync_run_id: int | None, flow_run_id: str | None
) -> OpenedRun | None:
    """Claim the queued run the API created, resume this flow run's own run (a Prefect retry), or create one.

    Returns None when the run already completed (nothing to do).
    """
    with session_scope() as session:
        # Parameters arrive from whoever can call the Prefect API, past the shim's tenant checks: the business
        # must exist and a named run must be that business's.
        get_business(session, business_id)
        run = _find_run(session, sync_run_id, flow_run_id)
        if run is not None and run.business_id != business_id:
            raise NotFoundError(f"sync run {run.id} does not belong to business {business_id}")
        _refuse_during_deletion(session, business_id)
        mailbox = mailbox_for_business(session, business_id)
        if mailbox.status == "needs_reauth":
            raise MailboxAuthError(
                f"the mailbox {mailbox.address} needs to be reconnected ({mailbox.status_reason or 'access revoked'})"
            )
        stale = None
        if run is None:
            yield_sweep(session, business_id)  # a run busy with its sweep steps aside for this one
            stale = _take_over_stale(session, business_id)
            run = create_sync_run(
                session,
                business_id=business_id,
                mailbox_id=mailbox.id,
                mode=mode,
                trigger="prefect" if flow_run_id else "cli",
                parameters=parameters,
                rerun_of=stale if stale is not None and stale.mode == mode else None,
            )
        elif not _claim(session, run, flow_run_id):
            return None
        run.mailbox_id = mailbox.id
        mark_running(session, run, flow_run_id)
        session.flush()
        took_over = stale is not None or _resumes_stale_run(session, run)
        return OpenedRun(run.id, mailbox.id, run.checkpoint, mailbox.sync_checkpoint, took_over)


def _resumes_stale_run(session: Session, run: SyncRun) -> bool:
    """Whether `run` carries on a run failed as stale (the API fails it when the next sync is requested).

    Its worker is gone, and `run` is now the business's one active run, so whoever still holds the business's
    sync slot is dead: the flow frees the slot instead of waiting out the dead holder's lease.
    """
    previous = session.get(SyncRun, run.rerun_of_id) if run.rerun_of_id else None
    return previous is not None and (previous.error_message or "").startswith("stale:")


def _refuse_during_deletion(session: Session, business_id: int) -> None:
    """A sync and a deletion of one business must not interleave."""
    deletion = active_deletion_run(session, business_id)
    if deletion is not None:
        raise DeletionAlreadyRunning(
            f"deletion run {deletion.id} of business {business_id} is {deletion.status}: sync after it ends",
            deletion.id,
        )


def _take_over_stale(session: Session, business_id: int) -> SyncRun | None:
    """Fail the business's stale active run (a lost worker) and return it, so its checkpoint can be resumed."""
    active = active_sync_run(session, business_id)
    if active is None:
        return None
    stale = fail_if_stale(session, active, **stale_thresholds(get_settings()))
    session.flush()
    return active if stale else None


def _find_run(session: Session, sync_run_id: int | None, flow_run_id: str | None) -> SyncRun | None:
    if sync_run_id is not None:
        try:
            return get_sync_run(session, sync_run_id, for_update=True)
        except NotFoundError:
            # Run ids are never reused: a trigger whose answer from Prefect was lost rolled its record back.
            raise RunRecordMissing(
                f"sync run {sync_run_id} does not exist: the request that queued this flow run was rolled back"
            ) from None
    if flow_run_id:
        return sync_run_by_flow_run(session, flow_run_id)
    return None


@dataclass(frozen=True)
class SyncSummary:
    """What a finished sync did: the flow's result, its final state message and the CLI's JSON output."""

    sync_run_id: int
    status: str
    mode: str
    pages_done: int
    messages_scanned: int
    receipts_saved: int
    duplicates_skipped: int
    errors: int
    duration_seconds: float | None
    sweep_status: str | None = None  # the sweep after the receipt query's messages (models/runs.py)
    sweep_messages_scanned: int = 0
    sweep_receipts_saved: int = 0

    @classmethod
    def of(cls, run: SyncRun) -> SyncSummary:
        duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
        seconds = round(duration, 2) if duration is not None else None
        return cls(run.id, run.status, run.mode, run.pages_done, run.messages_scanned, run.receipts_saved,
                   run.duplicates_skipped, run.errors_count, seconds, run.sweep_status, run.sweep_messages_scanned,
                   run.sweep_receipts_saved)  # fmt: skip

    def as_dict(self) -> JsonObject:
        """The flow run's result data (Prefect stores it; the CLI prints it as JSON)."""
        return asdict(self)


@task(name="complete-sync-run")
def complete_sync_run(run_id: int, mailbox_checkpoint: MailboxCheckpoint | None) -> SyncSummary:
    """Mark the run completed and move the mailbox's incremental starting point; returns its summary."""
    with session_scope() as session:
        run = get_sync_run(session, run_id)
        run.quota_units = max(run.quota_units or 0, run_progress(run_id).units)  # e.g. an unchanged mailbox's profile
        if run.status != "completed":  # a run whose sweep yielded was completed by the sync that asked for it
            finish_run(session, run, "completed")
        if mailbox_checkpoint and run.mailbox_id:
            save_mailbox_checkpoint(session, run.mailbox_id, mailbox_checkpoint)
        return SyncSummary.of(run)


def tag_flow_run(flow_run_id: str | None, tags: list[str]) -> None:
    """Add the business's tags to the flow run, whoever started it (the Prefect UI's Run button sets none).

    Best effort: the tags help people find runs; a Prefect hiccup here must not fail the sync."""
    if not flow_run_id:
        return
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(UUID(flow_run_id)).tags or []
            missing = [t for t in tags if t not in current]
            if missing:
                client.update_flow_run(UUID(flow_run_id), tags=[*current, *missing])
    except Exception as exc:
        logging.getLogger(__name__).warning("could not tag flow run %s: %s", flow_run_id, type(exc).__name__)


def close_failed_sync_run(run_id: int, status: str, message: str) -> None:
    """Record a failure or cancellation; an auth failure also flags the mailbox for reconnection."""
    with session_scope() as session:
        run = get_sync_run(session, run_id)
        if run.status in ("completed", "failed", "cancelled"):
            return
        finish_run(session, run, status, message)


def flag_mailbox_needs_reauth(mailbox_id: int, reason: str) -> None:
    with session_scope() as session:
        mark_needs_reauth(session, mailbox_id, reason)


def keep_heartbeat(
    run_id: int, every_seconds: float | None = None, model: type[SyncRun] | type[DeletionRun] = SyncRun
) -> AbstractContextManager[None]:
    """Beat the run's heartbeat from a thread, so a long page (or a deletion batch backing off) never looks like a
    dead worker: the reconciler fails runs by their heartbeat alone."""

    def beat() -> None:
        with session_scope() as session:
            heartbeat(session, run_id, model)

    every = every_seconds or get_settings().sync_heartbeat_seconds
    kind = "sync" if model is SyncRun else "deletion"
    return repeating(beat, every=every, name=f"{kind}-run-{run_id}-heartbeat")
