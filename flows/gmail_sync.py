"""The `gmail-sync` flow: walk a business's mailbox page by page and store the receipts it holds.

One sync per business at a time (a Prefect concurrency limit keyed by business, backed by the database's
one-active-run index); a task per page with retries on transient errors; the run record, a progress
artifact and a heartbeat written as it goes; a checkpoint after each committed page so a rerun (from the
API or Prefect's Retry) resumes where it stopped. Only ids travel as parameters, never tokens.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any, Literal, cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, State

from models.mailbox import MailboxCheckpoint
from models.runs import SyncParameters
from receipt_sync.errors import (
    DeletionAlreadyRunning,
    HistoryExpiredError,
    MailboxAuthError,
    RunRecordMissing,
    SyncAlreadyRunning,
)
from receipt_sync.settings import get_settings
from services.slots import business_slot, free_dead_holders_slot
from tasks.cursor import MailboxCursor
from tasks.planning import SyncPlan, plan_sync
from tasks.progress import report_progress
from tasks.reporting import RunLabels, read_sync_report, run_labels, state_message, summary_markdown
from tasks.runs import (
    OpenedRun,
    SyncSummary,
    close_failed_sync_run,
    complete_sync_run,
    flag_mailbox_needs_reauth,
    keep_heartbeat,
    open_sync_run,
    tag_flow_run,
)
from tasks.sources import release_sources
from tasks.sweep import plan_sweep, sweep_page
from tasks.sync_pages import PageOutcome, sync_page

SyncMode = Literal["incremental", "full", "range"]


def _parameters(
    mode: str,
    from_date: date | None,
    to_date: date | None,
    months_back: int,
    max_messages: int | None,
    reprocess_failed: bool = False,
) -> SyncParameters:
    if mode == "range" and not (from_date and to_date):
        raise ValueError("a range sync needs both from_date and to_date")
    if from_date and to_date and from_date > to_date:
        raise ValueError("from_date is after to_date")
    if months_back < 1 or (max_messages is not None and max_messages < 1):
        raise ValueError("months_back and max_messages must be positive")
    return {
        "mode": mode,
        "from_date": from_date.isoformat() if from_date else None,
        "to_date": to_date.isoformat() if to_date else None,
        "months_back": months_back,
        "max_messages": max_messages,
        **({"reprocess_failed": True} if reprocess_failed else {}),
    }


def _walk_pages(run_id: int, plan: SyncPlan, progress_id: UUID | None, logger: Any) -> str | None:
    """Process pages until the listing ends; returns the history id the mailbox should resume from."""
    history_id, cursor, page_number = plan.history_id, plan.cursor, 1
    while cursor is not None:
        outcome = sync_page(run_id, cursor, page_number)
        _log_page(logger, page_number, outcome)
        cursor, page_number = outcome.next_cursor, page_number + 1
        if outcome.history_id:
            history_id = outcome.history_id
        if progress_id:
            update_progress_artifact(progress_id, outcome.percent)
    return history_id


def _sweep(run_id: int, listed: MailboxCursor | None, history_id: str | None, logger: Any) -> None:
    """Then the rest of the mailbox, page by page, until it is all read or a sync someone asked for needs it."""
    plan = plan_sweep(run_id, listed, history_id)
    logger.info("sweep: %s", plan.note)
    cursor, page_number = plan.cursor, 1
    while cursor is not None:
        outcome = sweep_page(run_id, cursor, page_number)
        _log_page(logger, page_number, outcome, "sweep page")
        if outcome.yielded:
            logger.info("sweep yielded: a sync was asked for; a later sync resumes the sweep where it stopped")
            return
        cursor, page_number = outcome.next_cursor, page_number + 1


def _log_page(logger: Any, page_number: int, outcome: PageOutcome, what: str = "page") -> None:
    logger.info(
        "%s %s: %s listed, %s skipped (stored before), %s fetched, %s receipts saved, %s errors, %s left to the "
        "sweep; %.0f%% done",
        what, page_number, outcome.scanned, outcome.skipped, outcome.fetched, outcome.saved, outcome.errors,
        outcome.deferred, outcome.percent,
    )  # fmt: skip


def _sync(run: OpenedRun, labels: RunLabels, logger: Any) -> SyncSummary:
    progress_id = cast(  # called from a sync flow: the id itself, not a coroutine
        UUID,
        create_progress_artifact(0.0, key=labels.progress_key, description=f"{labels.name}: sync run {run.run_id}"),
    )
    with report_progress(run.run_id, progress_id, get_settings().sync_progress_seconds):
        return _plan_and_walk(run, progress_id, logger)


def _plan_and_walk(run: OpenedRun, progress_id: UUID | None, logger: Any) -> SyncSummary:
    plan = plan_sync(run.run_id, run.mailbox_checkpoint)
    logger.info("sync plan: %s", plan.note)
    try:
        history_id = _walk_pages(run.run_id, plan, progress_id, logger)
    except HistoryExpiredError:
        expired = (run.mailbox_checkpoint or {}).get("history_id")
        logger.warning("Gmail no longer has history id %s: falling back to a full sync of the window", expired)
        plan = plan_sync(run.run_id, run.mailbox_checkpoint, force_full=True)
        history_id = _walk_pages(run.run_id, plan, progress_id, logger)
    _sweep(run.run_id, plan.cursor, history_id, logger)
    checkpoint: MailboxCheckpoint | None = {"history_id": history_id} if history_id else None
    summary = complete_sync_run(run.run_id, checkpoint)
    if progress_id:
        update_progress_artifact(progress_id, 100.0, description=state_message(summary))
    return summary


def _publish_summary(run_id: int, labels: RunLabels) -> None:
    report = read_sync_report(run_id)
    create_markdown_artifact(summary_markdown(report), key=labels.summary_key, description=f"{labels.name}")


def _run_name() -> str:
    """`gmail-sync/acme-ltd-42/full`: the business's name and id, and what the run does."""
    parameters = flow_run.parameters
    labels = run_labels(parameters["business_id"], parameters.get("mode", "incremental"),
                        bool(parameters.get("reprocess_failed")))  # fmt: skip
    return labels.name


@flow(name="gmail-sync", flow_run_name=_run_name, log_prints=False)
def gmail_sync(
    business_id: int,
    mode: SyncMode = "incremental",
    from_date: date | None = None,
    to_date: date | None = None,
    months_back: int = 36,
    max_messages: int | None = None,
    sync_run_id: int | None = None,
    reprocess_failed: bool = False,
) -> State:
    """Sync one business's mailbox and store the receipts it holds.

    Args:
        business_id: The business whose connected mailbox is synced (`receipts business list` shows the ids).
        mode: `incremental` reads only mail added since the last sync (Gmail's history); `full` lists the last
            `months_back` months; `range` lists `from_date` to `to_date`.
        from_date: First day of a `range` sync (YYYY-MM-DD, inclusive).
        to_date: Last day of a `range` sync (YYYY-MM-DD, inclusive).
        months_back: How many months back a `full` sync reaches.
        max_messages: Stop after this many listed messages (empty: no cap).
        sync_run_id: The sync run record the API queued for this flow run; leave empty when starting by hand.
        reprocess_failed: Fetch and analyse again the messages that failed in earlier syncs (a full pass of the
            window that skips only what was stored), e.g. after a fix in the extractor.
    """
    logger = get_run_logger()
    parameters = _parameters(mode, from_date, to_date, months_back, max_messages, reprocess_failed)
    flow_run_id = str(flow_run.id) if flow_run.id else None
    run = _open_run(business_id, parameters, sync_run_id, flow_run_id, logger)
    if not isinstance(run, OpenedRun):
        return run
    labels = run_labels(business_id, mode, reprocess_failed)
    tag_flow_run(flow_run_id, labels.tags)
    _log_start(logger, business_id, parameters, run.run_id, flow_run_id)
    started = time.monotonic()
    summary = _sync_in_slot(business_id, run, labels, logger)
    _publish_summary(run.run_id, labels)
    _log_done(logger, business_id, run.run_id, time.monotonic() - started, summary)
    return Completed(message=state_message(summary), data=summary.as_dict())


def _open_run(
    business_id: int, parameters: SyncParameters, sync_run_id: int | None, flow_run_id: str | None, logger: Any
) -> OpenedRun | State:
    """Open (claim) the run record; the state to end the flow run in when there is nothing to do."""
    mode = parameters["mode"]
    try:
        run = open_sync_run(business_id, mode, parameters, sync_run_id, flow_run_id)
    except RunRecordMissing as exc:  # an orphan of a rolled-back trigger: nothing to do, nothing to alert about
        logger.warning("JOB_SKIP business=%s: %s", business_id, exc)
        return Cancelled(message=str(exc))
    except (MailboxAuthError, SyncAlreadyRunning, DeletionAlreadyRunning) as exc:
        logger.error("JOB_FAIL business=%s mode=%s where=open-run error=%s", business_id, mode, exc)
        raise
    if run is None:
        logger.info("JOB_DONE business=%s sync run %s had already completed", business_id, sync_run_id)
        return Completed(message="sync run already completed", data={"status": "completed", "sync_run_id": sync_run_id})
    return run


def _sync_in_slot(business_id: int, run: OpenedRun, labels: RunLabels, logger: Any) -> SyncSummary:
    """The sync under the business's concurrency slot and the run's heartbeat; the record is closed on failure."""
    if run.took_over_stale_run:
        logger.warning("took over a stale run of business %s: freeing its concurrency slot", business_id)
        free_dead_holders_slot("sync", business_id)
    try:
        # Beat while waiting for the slot too: a run queued behind a dead holder's lease (up to ~75 s) is alive,
        # and must not look stale (SYNC_STALE_AFTER_SECONDS, 45 s) to the reconciler.
        with keep_heartbeat(run.run_id), business_slot("sync", business_id, **_slot_settings()):
            return _sync(run, labels, logger)
    except BaseException as exc:
        _record_failure(run, exc, logger)
        raise
    finally:
        release_sources(str(run.run_id))


def _log_start(logger: Any, business_id: int, parameters: SyncParameters, run_id: int, flow_run_id: str | None) -> None:
    months_back, max_messages = parameters["months_back"], parameters["max_messages"]
    window = f"{parameters['from_date'] or f'{months_back} months back'}..{parameters['to_date'] or 'now'}"
    logger.info(
        "JOB_START business=%s mode=%s window=%s cap=%s sync_run=%s flow_run=%s",
        business_id, parameters["mode"], window, max_messages, run_id, flow_run_id,
    )  # fmt: skip


def _log_done(logger: Any, business_id: int, run_id: int, seconds: float, summary: SyncSummary) -> None:
    logger.info(
        "JOB_DONE business=%s sync_run=%s duration=%.1fs scanned=%s saved=%s duplicates=%s errors=%s "
        "sweep=%s sweep_scanned=%s sweep_saved=%s",
        business_id, run_id, seconds, summary.messages_scanned,
        summary.receipts_saved, summary.duplicates_skipped, summary.errors, summary.sweep_status,
        summary.sweep_messages_scanned, summary.sweep_receipts_saved,
    )  # fmt: skip


def _slot_settings() -> dict[str, float]:
    settings = get_settings()
    return {"timeout_seconds": settings.sync_slot_timeout_seconds, "lease_seconds": settings.sync_slot_lease_seconds}


def _record_failure(run: OpenedRun, exc: BaseException, logger: Any) -> None:
    """Close the run record on every failure path; a revoked token also flags the mailbox."""
    # Prefect's cancellation arrives as TerminationSignal; any other BaseException (SystemExit, Ctrl-C) means the
    # process was stopped under the run: it failed, so the next sync resumes from its checkpoint.
    cancelled = isinstance(exc, TerminationSignal | asyncio.CancelledError)
    if cancelled:
        message = "cancelled"
    elif isinstance(exc, Exception):
        message = _user_message(exc)
    else:
        message = f"interrupted: the sync process stopped ({type(exc).__name__}); the next sync resumes it"
    if isinstance(exc, MailboxAuthError):
        flag_mailbox_needs_reauth(run.mailbox_id, str(exc))
    close_failed_sync_run(run.run_id, "cancelled" if cancelled else "failed", message)
    logger.error("JOB_FAIL sync_run=%s error=%s", run.run_id, message)


def _user_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if getattr(exc, "code", None) else f"{type(exc).__name__}: {text}"
