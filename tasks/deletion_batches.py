"""Deletion tasks: open and close a deletion run, and delete one keyset batch of receipts with their documents.

A batch is planned in one short transaction, its objects are deleted from storage in bulk (one DeleteObjects
per 1000 keys), and the outcome is committed in a second transaction with the counters, cursor and heartbeat.

Storage goes first: if the process dies between the two, the rows still exist and a rerun deletes the
(already absent) objects again, which counts as deleted; the reverse order could leave objects nobody can
find. Rules that keep receipts consistent:
- an object is deleted only when no receipt outside the batch references its content, so shared content
  stays for receipts that are kept (and the last batch that references it deletes it);
- a receipt whose object storage would not delete is kept, with only the document rows whose objects still
  exist, and recorded in `deletion_failure`; it is counted failed, never deleted, and retried at the end of
  the run and by every rerun;
- if storage refuses every key of a batch at the first call, that is an outage: nothing of the batch is
  committed and the task raises `StorageUnavailable` at once, which Prefect retries with back-off (one
  budget for an outage, the key loop's for single refused keys: receipt_sync/retry.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import task

from models.db import session_scope
from models.queries import deletions as q
from receipt_sync.errors import StorageUnavailable
from receipt_sync.retry import retry_failed_keys
from receipt_sync.settings import get_settings
from receipt_sync.storage import Storage, open_storage

_storages: dict[tuple[str, str | None], Storage] = {}


def deletion_storage() -> Storage:
    """One storage object per configuration and process, so boto3 clients (per thread) are reused."""
    settings = get_settings()
    key = (settings.resolved_storage_url, settings.s3_endpoint_url)
    if key not in _storages:
        _storages[key] = open_storage(settings)
    return _storages[key]


@dataclass(frozen=True)
class BatchPlan:
    run_id: int
    business_id: int
    receipt_ids: list[int]
    documents: list[tuple[int, str]]  # (receipt id, storage key)
    keys_to_delete: list[str]
    cursor: int | None


@dataclass(frozen=True)
class BatchOutcome:
    """What the flow needs to decide whether to go on: the run's status and how far it got."""

    status: str
    receipts: int = 0
    deleted: int = 0
    documents_failed: int = 0
    done: bool = False
    summary: q.DeletionSummary | None = None


@task(name="open-deletion-run")
def open_deletion_run(business_id: int, deletion_run_id: int, flow_run_id: str | None) -> q.DeletionSummary:
    """Claim the run for this flow run; its summary says whether there is anything to do (status)."""
    with session_scope() as session:
        run = q.get_deletion_run(session, deletion_run_id, business_id=business_id, for_update=True)
        q.claim_deletion_run(session, run, flow_run_id)
        return q.deletion_summary(run)


@task(name="delete-receipt-batch")
def delete_receipt_batch(deletion_run_id: int, batch_size: int) -> BatchOutcome:
    """Delete the next batch after the cursor; stops (does nothing) when the run is no longer running."""
    with session_scope() as session:
        run = q.get_deletion_run(session, deletion_run_id)
        if run.status != "running":
            return BatchOutcome(status=run.status, done=True, summary=q.deletion_summary(run))
        ids, cursor = q.next_batch(session, run, batch_size)
        if cursor is None:
            return BatchOutcome(status="running", done=True, summary=q.deletion_summary(run))
        plan = _plan(session, run.id, run.business_id, ids, cursor)
    return _execute(plan, in_batch=True)


@task(name="retry-deletion-failures")
def retry_deletion_failures(deletion_run_id: int) -> BatchOutcome:
    """Try once more the documents storage refused earlier in this run (or in an earlier attempt of it)."""
    with session_scope() as session:
        run = q.get_deletion_run(session, deletion_run_id)
        ids = q.failed_receipt_ids(session, run.id)
        plan = _plan(session, run.id, run.business_id, ids, None)
    if not ids:
        return BatchOutcome(status="running", done=True)
    return _execute(plan, in_batch=False)


def _plan(session: Any, run_id: int, business_id: int, ids: list[int], cursor: int | None) -> BatchPlan:
    docs = q.documents_of(session, business_id, ids)
    kept = q.hashes_kept_elsewhere(session, business_id, {h for _, _, h in docs}, ids)
    keys = sorted({k for _, k, h in docs if h not in kept})
    return BatchPlan(run_id, business_id, ids, [(r, k) for r, k, _ in docs], keys, cursor)


def _execute(plan: BatchPlan, *, in_batch: bool) -> BatchOutcome:
    """`in_batch`: a new batch (counted as processed; total refusal is an outage), else a retry of failures."""
    failed = set(_delete_objects(plan.keys_to_delete, outage_if_all_fail=in_batch))
    failed_pairs = [(r, k) for r, k in plan.documents if k in failed]
    kept_receipts = {r for r, _ in failed_pairs}
    deleted_receipts = [r for r in plan.receipt_ids if r not in kept_receipts]
    gone = [k for k in plan.keys_to_delete if k not in failed]
    with session_scope() as session:
        run = q.get_deletion_run(session, plan.run_id)
        deleted = q.delete_receipts(session, plan.business_id, deleted_receipts)
        q.delete_document_rows(session, plan.business_id, kept_receipts, gone)
        q.clear_failures(session, run.id, kept_receipts, failed)
        q.record_failures(session, run, failed_pairs)
        q.add_progress(
            session,
            run.id,
            processed=len(plan.receipt_ids) if in_batch else 0,
            succeeded=deleted,
            attachments_deleted=len(gone),
            cursor=plan.cursor,
        )
        session.expire(run)
        summary = q.deletion_summary(run)
    return BatchOutcome(
        status="running",
        receipts=len(plan.receipt_ids),
        deleted=deleted,
        documents_failed=len(failed),
        summary=summary,
    )


def _delete_objects(keys: list[str], *, outage_if_all_fail: bool) -> list[str]:
    """Bulk delete, the keys that failed retried alone (receipt_sync.retry); an outage (the first call
    refused every key) raises at once for the task's retries."""
    settings = get_settings()
    return retry_failed_keys(
        deletion_storage().delete_many,
        keys,
        attempts=settings.deletion_storage_attempts,
        base=settings.deletion_retry_base_seconds,
        outage=_outage if outage_if_all_fail else None,
    )


def _outage(count: int) -> StorageUnavailable:
    return StorageUnavailable(f"object storage refused all {count} documents of a batch")


@task(name="close-deletion-run")
def close_deletion_run(deletion_run_id: int, status: str, message: str | None = None) -> q.DeletionSummary:
    """Finish the run: completed (possibly with reported failures), failed or cancelled."""
    with session_scope() as session:
        run = q.get_deletion_run(session, deletion_run_id, for_update=True)
        if run.status == "running" or (status != "completed" and run.status in ("queued", "paused")):
            q.finish_deletion_run(session, run, status, message)
        return q.deletion_summary(run)


def read_deletion_run(deletion_run_id: int) -> q.DeletionSummary:
    with session_scope() as session:
        return q.deletion_summary(q.get_deletion_run(session, deletion_run_id))
