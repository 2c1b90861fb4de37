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
from typing import Any, Literal
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run

from receipt_sync.errors import DeletionAlreadyRunning, HistoryExpiredError, MailboxAuthError, SyncAlreadyRunning
from receipt_sync.settings import get_settings
from services.slots import business_slot, free_dead_holders_slot
from tasks.planning import SyncPlan, plan_sync
from tasks.runs import (
    OpenedRun,
    close_failed_sync_run,
    complete_sync_run,
    flag_mailbox_needs_reauth,
    keep_heartbeat,
    open_sync_run,
)
from tasks.sources import release_sources
from tasks.sync_pages import sync_page

SyncMode = Literal["incremental", "full", "range"]


def _parameters(
    mode: str, from_date: date | None, to_date: date | None, months_back: int, max_messages: int | None
) -> dict[str, Any]:
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
    }


def _walk_pages(run_id: int, plan: SyncPlan, progress_id: UUID | None) -> str | None:
    """Process pages until the listing ends; returns the history id the mailbox should resume from."""
    history_id, cursor, page_number = plan.history_id, plan.cursor, 1
    while cursor is not None:
        outcome = sync_page(run_id, cursor, page_number)
        cursor, page_number = outcome.next_cursor, page_number + 1
        if outcome.history_id:
            history_id = outcome.history_id
        if progress_id:
            update_progress_artifact(progress_id, outcome.percent)
    return history_id


def _sync(run: OpenedRun, logger: Any) -> dict[str, Any]:
    progress_id = create_progress_artifact(0.0, description=f"sync run {run.run_id}")
    plan = plan_sync(run.run_id, run.mailbox_checkpoint)
    logger.info("sync plan: %s", plan.note)
    try:
        history_id = _walk_pages(run.run_id, plan, progress_id)
    except HistoryExpiredError:
        expired = (run.mailbox_checkpoint or {}).get("history_id")
        logger.warning("Gmail no longer has history id %s: falling back to a full sync of the window", expired)
        plan = plan_sync(run.run_id, run.mailbox_checkpoint, force_full=True)
        history_id = _walk_pages(run.run_id, plan, progress_id)
    checkpoint = {"history_id": history_id} if history_id else None
    summary = complete_sync_run(run.run_id, checkpoint)
    update_progress_artifact(progress_id, 100.0)
    return summary


def _publish_summary(business_id: int, summary: dict[str, Any]) -> None:
    rows = [{"metric": k, "value": v} for k, v in summary.items()]
    create_table_artifact(rows, key=f"gmail-sync-business-{business_id}", description="Sync summary")


@flow(name="gmail-sync", flow_run_name="gmail-sync/business-{business_id}/{mode}", log_prints=False)
def gmail_sync(
    business_id: int,
    mode: SyncMode = "incremental",
    from_date: date | None = None,
    to_date: date | None = None,
    months_back: int = 36,
    max_messages: int | None = None,
    sync_run_id: int | None = None,
) -> dict[str, Any]:
    """Sync one business's mailbox: `full` (the last `months_back` months), `range`, or `incremental`."""
    logger = get_run_logger()
    parameters = _parameters(mode, from_date, to_date, months_back, max_messages)
    flow_run_id = str(flow_run.id) if flow_run.id else None
    try:
        run = open_sync_run(business_id, mode, parameters, sync_run_id, flow_run_id)
    except (MailboxAuthError, SyncAlreadyRunning, DeletionAlreadyRunning) as exc:
        logger.error("JOB_FAIL business=%s mode=%s where=open-run error=%s", business_id, mode, exc)
        raise
    if run is None:
        logger.info("JOB_DONE business=%s sync run %s had already completed", business_id, sync_run_id)
        return {"status": "completed", "sync_run_id": sync_run_id}
    window = f"{parameters['from_date'] or f'{months_back} months back'}..{parameters['to_date'] or 'now'}"
    logger.info(
        "JOB_START business=%s mode=%s window=%s cap=%s sync_run=%s flow_run=%s",
        business_id, mode, window, max_messages, run.run_id, flow_run_id,
    )  # fmt: skip
    started = time.monotonic()
    if run.took_over_stale_run:
        logger.warning("took over a stale run of business %s: freeing its concurrency slot", business_id)
        free_dead_holders_slot("sync", business_id)
    try:
        with business_slot("sync", business_id, **_slot_settings()), keep_heartbeat(run.run_id):
            summary = _sync(run, logger)
    except BaseException as exc:
        _record_failure(run, exc, logger)
        raise
    finally:
        release_sources(str(run.run_id))
    _publish_summary(business_id, summary)
    logger.info(
        "JOB_DONE business=%s sync_run=%s duration=%.1fs scanned=%s saved=%s duplicates=%s errors=%s",
        business_id, run.run_id, time.monotonic() - started, summary["messages_scanned"],
        summary["receipts_saved"], summary["duplicates_skipped"], summary["errors"],
    )  # fmt: skip
    return summary


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
