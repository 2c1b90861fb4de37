"""The `receipt-deletion` flow: delete a business's chosen receipts and their documents, batch by batch.

It holds the business's deletion slot, claims the deletion run the API created, deletes keyset batches until
nothing is left or the run is paused or cancelled (checked before every batch, so either takes effect within
one batch), retries the documents storage refused, and closes the run. Counters, cursor and heartbeat are
written by every batch, so the UI always shows where it is, and a rerun continues from the cursor.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, State

from models.deletion import DeletionRun, DeletionSelector
from models.queries.deletions import DeletionSummary
from receipt_sync.jsontypes import JsonObject
from receipt_sync.retry import JITTER, backoff_delays
from receipt_sync.settings import get_settings
from services.slots import business_slot
from tasks.deletion_batches import (
    BatchOutcome,
    close_deletion_run,
    delete_receipt_batch,
    open_deletion_run,
    read_deletion_run,
    retry_deletion_failures,
)
from tasks.retry import retry_transient_only
from tasks.runs import keep_heartbeat


def _run_name() -> str:
    params = flow_run.parameters
    return f"receipt-deletion/business-{params['business_id']}/run-{params['deletion_run_id']}"


@flow(name="receipt-deletion", flow_run_name=_run_name)
def receipt_deletion(business_id: int, deletion_run_id: int, batch_size: int | None = None) -> Any:
    """Delete the receipts chosen by deletion run `deletion_run_id` of business `business_id`."""
    logger = get_run_logger()
    size = batch_size or get_settings().deletion_batch_size
    started = time.monotonic()
    # The heartbeat beats from the start (while the slot is awaited too), so the reconciler never takes a live
    # deletion for a dead one, even through a batch's storage back-off.
    with keep_heartbeat(deletion_run_id, model=DeletionRun), business_slot("deletion", business_id):
        run = open_deletion_run(business_id, deletion_run_id, flow_run.get_id())
        if run.status != "running":
            return _ended(run.status, run)
        logger.info(
            "JOB_START business=%s deletion_run=%s selector=%s total=%s cursor=%s batch_size=%s",
            business_id, deletion_run_id, _selector_text(run.selector), run.total, run.cursor, size,
        )  # fmt: skip
        try:
            summary = _delete_all(deletion_run_id, size, run)
        except BaseException as exc:
            _fail(deletion_run_id, exc, logger)
            raise
    return _report(summary, time.monotonic() - started, logger)


def _delete_all(deletion_run_id: int, size: int, run: DeletionSummary) -> DeletionSummary:
    """Batches until done or stopped, then one more try for refused documents, then close the run."""
    artifact = cast(  # called from a sync flow: the id itself, not a coroutine
        UUID,
        create_progress_artifact(
            progress=run.percent, key=f"deletion-run-{deletion_run_id}", description=_describe(run)
        ),
    )
    batch, retry = _with_retries(delete_receipt_batch), _with_retries(retry_deletion_failures)
    outcome = BatchOutcome(status="running")
    while not outcome.done:
        outcome = batch(deletion_run_id, size)
        if outcome.receipts and outcome.summary is not None:
            summary = outcome.summary
            update_progress_artifact(artifact, progress=summary.percent, description=_describe(summary))
    if outcome.status != "running":
        return outcome.summary or read_deletion_run(deletion_run_id)
    retry(deletion_run_id)
    summary = read_deletion_run(deletion_run_id)
    if summary.failed_count:
        message = (
            f"{summary.attachments_failed} documents of {summary.failed_count} receipts could not be "
            "deleted from storage; those receipts are kept. Resume the deletion to try them again."
        )
        summary = close_deletion_run(deletion_run_id, "failed", message)
    else:
        summary = close_deletion_run(deletion_run_id, "completed")
    update_progress_artifact(artifact, progress=summary.percent, description=_describe(summary))
    return summary


def _with_retries(task_fn: Any) -> Any:
    """Transient database/storage failures back off 2 s doubling to 30 s (base from the settings)."""
    settings = get_settings()
    retries = settings.deletion_task_retries
    return task_fn.with_options(
        retries=retries,
        retry_delay_seconds=backoff_delays(settings.deletion_retry_base_seconds, retries),
        retry_jitter_factor=JITTER,
        retry_condition_fn=retry_transient_only,
    )


def _selector_text(selector: DeletionSelector) -> str:
    """Short enough for a log line even for 100,000 ids."""
    if "ids" in selector:
        return f"ids({len(selector['ids'])})"
    return "all" if selector.get("all") else f"filter{selector.get('filter')}"


def _describe(run: DeletionSummary) -> str:
    return (
        f"Deletion run {run.id} ({run.status}): {run.processed}/{run.total} receipts processed, "
        f"{run.succeeded} deleted, {run.failed_count} kept because storage refused "
        f"{run.attachments_failed} documents; {run.attachments_deleted} documents deleted."
    )


def _fail(deletion_run_id: int, exc: BaseException, logger: Any) -> None:
    """Close the run record on every path; only a Prefect cancellation ends it cancelled (a stopped process fails)."""
    cancelled = isinstance(exc, TerminationSignal | asyncio.CancelledError)
    status = "cancelled" if cancelled else "failed"
    message = "stopped by Prefect" if cancelled else f"{type(exc).__name__}: {exc}"
    logger.error("JOB_FAIL deletion_run=%s status=%s error=%s", deletion_run_id, status, message[:500])
    try:
        close_deletion_run.fn(deletion_run_id, status, message)
    except Exception:  # the database may be what failed; the stale heartbeat still shows it
        logger.exception("JOB_FAIL could not record the failure of deletion run %s", deletion_run_id)


def _report(summary: DeletionSummary, seconds: float, logger: Any) -> State | JsonObject:
    if summary.status in ("completed", "failed"):
        logger.info(
            "JOB_DONE deletion_run=%s status=%s duration=%.1fs processed=%s deleted=%s failed=%s "
            "documents_deleted=%s documents_failed=%s",
            summary.id, summary.status, seconds, summary.processed, summary.succeeded,
            summary.failed_count, summary.attachments_deleted, summary.attachments_failed,
        )  # fmt: skip
    if summary.status == "failed":
        logger.error("JOB_FAIL deletion_run=%s error=%s", summary.id, summary.error_message)
        raise DeletionIncomplete(summary.error_message or "deletion incomplete")
    return _ended(summary.status, summary)


def _ended(status: str, summary: DeletionSummary) -> State | JsonObject:
    """Paused and cancelled runs end their flow run in a state the Prefect UI shows as such; else the summary
    is the flow run's result (a plain dict, so Prefect can store it as JSON)."""
    where = f"after {summary.processed} of {summary.total} receipts (cursor {summary.cursor})"
    if status == "cancelled":
        return Cancelled(message=f"deletion run {summary.id} cancelled {where}")
    if status == "paused":
        return Completed(name="Paused", message=f"deletion run {summary.id} paused {where}; resume continues")
    return summary.as_dict()


class DeletionIncomplete(Exception):
    """Some documents could not be deleted: the flow run fails so the Prefect UI shows it and can retry."""
