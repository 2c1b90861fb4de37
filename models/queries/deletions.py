"""Deletion runs: creating one under the one-active-deletion guard, state changes, and the batch queries.

Every query is scoped by `business_id`, so a deletion can only ever see (and remove) its own business's rows.
Functions take a session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, and_, delete, distinct, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.deletion import (
    ACTIVE_DELETION_STATUSES,
    DeletionFailure,
    DeletionRun,
    DeletionSelector,
    ReceiptFilter,
)
from models.queries.sync_runs import active_sync_run, get_run, insert_queued_run
from models.receipt import Receipt, ReceiptDocument
from receipt_sync import process_identity
from receipt_sync.errors import (
    DeletionAlreadyRunning,
    InvalidRequest,
    RunStateConflict,
    SyncAlreadyRunning,
)
from receipt_sync.jsontypes import JsonObject

ERROR_MESSAGE_LIMIT = 2000
MAX_IDS = 100_000
FILTER_FIELDS = ("status", "vendor", "currency", "date_from", "date_to", "text")


def active_deletion_run(session: Session, business_id: int) -> DeletionRun | None:
    """The business's queued, running or paused deletion (a sync must not start while there is one)."""
    return session.scalars(
        select(DeletionRun).where(
            DeletionRun.business_id == business_id, DeletionRun.status.in_(ACTIVE_DELETION_STATUSES)
        )
    ).first()


def normalize_selector(selector: Mapping[str, Any]) -> DeletionSelector:
    """Exactly one of `{"all": true}`, `{"ids": [...]}`, `{"filter": {...}}`; anything else is refused (the
    selector comes from outside: the API's request body, a test, a caller's JSON)."""
    chosen = [k for k in ("all", "ids", "filter") if selector.get(k) not in (None, False)]
    if len(chosen) != 1:
        raise InvalidRequest('give exactly one of {"all": true}, {"ids": [...]} or {"filter": {...}}')
    if chosen == ["all"]:
        if selector["all"] is not True:
            raise InvalidRequest('"all" must be true')
        return {"all": True}
    if chosen == ["ids"]:
        return {"ids": _clean_ids(selector["ids"])}
    return {"filter": _clean_filter(selector["filter"])}


def _clean_ids(ids: Any) -> list[int]:
    if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
        raise InvalidRequest(f'"ids" must be a list of 1 to {MAX_IDS} receipt ids')
    if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise InvalidRequest('"ids" must hold positive integers')
    return sorted(set(ids))


def _clean_filter(flt: Any) -> ReceiptFilter:
    if not isinstance(flt, dict) or not flt:
        raise InvalidRequest(f'"filter" must be an object with some of: {", ".join(FILTER_FIELDS)}')
    unknown = sorted(set(flt) - set(FILTER_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown filter fields: {', '.join(unknown)}")
    for name in ("date_from", "date_to"):
        if flt.get(name) is not None:
            try:
                date.fromisoformat(str(flt[name]))
            except ValueError:
                raise InvalidRequest(f'"{name}" must be a date (YYYY-MM-DD)') from None
    return cast(ReceiptFilter, {k: str(v) for k, v in flt.items() if v is not None})  # keys checked above


def selection(business_id: int, selector: DeletionSelector) -> ColumnElement[bool]:
    """The WHERE clause of the receipts a selector chooses, always inside the business."""
    clauses: list[ColumnElement[bool]] = [Receipt.business_id == business_id]
    if "ids" in selector:
        clauses.append(Receipt.id.in_(selector["ids"]))
    flt: ReceiptFilter = selector.get("filter") or {}
    if "status" in flt:
        clauses.append(Receipt.status == flt["status"])
    if "currency" in flt:
        clauses.append(Receipt.currency == flt["currency"].upper())
    if "vendor" in flt:
        clauses.append(Receipt.vendor.ilike(f"%{_escape_like(flt['vendor'])}%", escape="\\"))
    if "date_from" in flt:
        clauses.append(Receipt.receipt_date >= date.fromisoformat(flt["date_from"]))
    if "date_to" in flt:
        clauses.append(Receipt.receipt_date <= date.fromisoformat(flt["date_to"]))
    if "text" in flt:
        pattern = f"%{_escape_like(flt['text'])}%"
        clauses.append(
            or_(
                Receipt.subject.ilike(pattern, escape="\\"),
                Receipt.vendor.ilike(pattern, escape="\\"),
                Receipt.sender.ilike(pattern, escape="\\"),
            )
        )
    return and_(*clauses)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def create_deletion_run(session: Session, *, business_id: int, selector: Mapping[str, Any]) -> DeletionRun:
    """Insert a queued run counting its receipts; refused while a sync or another deletion is active.

    The partial unique index turns a concurrent second request into `DeletionAlreadyRunning`; the insert runs
    in a savepoint so the caller's transaction survives the refusal.
    """
    chosen = normalize_selector(selector)
    _refuse_if_sync_active(session, business_id)
    total = session.scalar(select(func.count()).select_from(Receipt).where(selection(business_id, chosen)))
    run = DeletionRun(business_id=business_id, selector=chosen, status="queued", total=total or 0)
    insert_queued_run(session, run, active_deletion_run, DeletionAlreadyRunning, "deletion")
    return run


def _refuse_if_sync_active(session: Session, business_id: int) -> None:
    sync = active_sync_run(session, business_id)
    if sync is not None:
        raise SyncAlreadyRunning(
            f"a sync of business {business_id} is {sync.status}; delete receipts after it finishes",
            run_id=sync.id,
        )


def get_deletion_run(
    session: Session, run_id: int, *, business_id: int | None = None, for_update: bool = False
) -> DeletionRun:
    """The run; with `business_id`, another business's run is 'not found' (never 'forbidden')."""
    return get_run(session, DeletionRun, run_id, business_id=business_id, for_update=for_update)


def pause_deletion_run(session: Session, run: DeletionRun) -> None:
    """Ask the flow to stop after its current batch; it can be resumed from the cursor."""
    if run.status not in ("queued", "running"):
        raise RunStateConflict(f"deletion run {run.id} is {run.status}; only a queued or running one can pause")
    run.status = "paused"


def resume_deletion_run(session: Session, run: DeletionRun) -> None:
    """Queue a paused (or failed) run again; the caller starts a flow run, which continues from the cursor."""
    if run.status not in ("paused", "failed"):
        raise RunStateConflict(f"deletion run {run.id} is {run.status}; only a paused or failed one can resume")
    _refuse_if_sync_active(session, run.business_id)
    try:
        with session.begin_nested():
            run.status = "queued"
            run.finished_at = None
            run.error_message = None
            session.flush()
    except IntegrityError:
        session.refresh(run)
        raise DeletionAlreadyRunning(f"another deletion of business {run.business_id} is active") from None


def cancel_deletion_run(session: Session, run: DeletionRun) -> None:
    """Stop for good: the flow notices before its next batch (so within one batch)."""
    if run.status not in ACTIVE_DELETION_STATUSES:
        raise RunStateConflict(f"deletion run {run.id} is already {run.status}")
    finish_deletion_run(session, run, "cancelled")


def claim_deletion_run(session: Session, run: DeletionRun, flow_run_id: str | None) -> bool:
    """Mark the run running for this flow run; False when there is nothing to do (finished or paused)."""
    if run.status in ("completed", "cancelled", "paused"):
        return False
    if run.status == "failed":  # a rerun of a failed flow run (Prefect's Retry) continues from the cursor
        _refuse_if_sync_active(session, run.business_id)
    now = utcnow()
    run.status = "running"
    run.started_at = run.started_at or now
    run.finished_at = None
    run.heartbeat_at = now
    run.error_message = None
    run.process = process_identity.current()  # the flow process claims it: the one that works on the run
    run.flow_run_id = flow_run_id or run.flow_run_id
    session.flush()
    return True


def finish_deletion_run(session: Session, run: DeletionRun, status: str, error_message: str | None = None) -> None:
    run.status = status
    run.finished_at = utcnow()
    run.heartbeat_at = run.finished_at
    if error_message is not None:
        run.error_message = error_message[:ERROR_MESSAGE_LIMIT]


def next_batch(session: Session, run: DeletionRun, limit: int) -> tuple[list[int], int | None]:
    """The next selected receipt ids after the cursor in id order (keyset, no OFFSET), and the new cursor.

    The new cursor is None when nothing is left. An id list is walked in chunks of `limit` ids, so ids that
    do not exist (or belong to another business) only move the cursor.
    """
    after = run.cursor or 0
    if "ids" in run.selector:
        chunk = [i for i in run.selector["ids"] if i > after][:limit]
        if not chunk:
            return [], None
        where = selection(run.business_id, {"ids": chunk})
        return list(session.scalars(select(Receipt.id).where(where).order_by(Receipt.id))), chunk[-1]
    stmt = select(Receipt.id).where(selection(run.business_id, run.selector), Receipt.id > after)
    ids = list(session.scalars(stmt.order_by(Receipt.id).limit(limit)))
    return ids, (ids[-1] if ids else None)


def documents_of(session: Session, business_id: int, receipt_ids: Collection[int]) -> list[tuple[int, str, str]]:
    """(receipt id, storage key, content hash) of every document of these receipts."""
    rows = session.execute(
        select(ReceiptDocument.receipt_id, ReceiptDocument.storage_key, ReceiptDocument.content_hash).where(
            ReceiptDocument.business_id == business_id, ReceiptDocument.receipt_id.in_(receipt_ids)
        )
    )
    return [(r, k, h) for r, k, h in rows]


def hashes_kept_elsewhere(
    session: Session, business_id: int, hashes: Collection[str], receipt_ids: Collection[int]
) -> set[str]:
    """Content hashes that a receipt outside `receipt_ids` still references: their objects must stay."""
    if not hashes:
        return set()
    stmt = (
        select(ReceiptDocument.content_hash)
        .distinct()
        .where(
            ReceiptDocument.business_id == business_id,
            ReceiptDocument.content_hash.in_(hashes),
            ReceiptDocument.receipt_id.not_in(receipt_ids),
        )
    )
    return set(session.scalars(stmt))


def delete_receipts(session: Session, business_id: int, receipt_ids: Collection[int]) -> int:
    """Delete receipts (their document rows cascade); another business's ids are never matched."""
    if not receipt_ids:
        return 0
    result = session.execute(delete(Receipt).where(Receipt.business_id == business_id, Receipt.id.in_(receipt_ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_document_rows(
    session: Session, business_id: int, receipt_ids: Collection[int], keys: Collection[str]
) -> None:
    """Drop the rows of documents whose objects are gone, for receipts that are kept for another document."""
    if receipt_ids and keys:
        session.execute(
            delete(ReceiptDocument).where(
                ReceiptDocument.business_id == business_id,
                ReceiptDocument.receipt_id.in_(receipt_ids),
                ReceiptDocument.storage_key.in_(keys),
            )
        )


def record_failures(session: Session, run: DeletionRun, failures: Iterable[tuple[int, str]]) -> None:
    """Remember (receipt, key) pairs storage would not delete; a repeat failure counts another attempt."""
    values = [
        {"deletion_run_id": run.id, "business_id": run.business_id, "receipt_id": r, "storage_key": k}
        for r, k in failures
    ]
    if not values:
        return
    stmt = pg_insert(DeletionFailure).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["deletion_run_id", "receipt_id", "storage_key"],
        set_={"attempts": DeletionFailure.attempts + 1, "updated_at": utcnow()},
    )
    session.execute(stmt)


def clear_failures(session: Session, run_id: int, receipt_ids: Collection[int], failed_keys: Collection[str]) -> None:
    """Forget failures of these receipts whose keys are now deleted."""
    if receipt_ids:
        session.execute(
            delete(DeletionFailure).where(
                DeletionFailure.deletion_run_id == run_id,
                DeletionFailure.receipt_id.in_(receipt_ids),
                DeletionFailure.storage_key.not_in(list(failed_keys)),
            )
        )


def failed_receipt_ids(session: Session, run_id: int) -> list[int]:
    stmt = select(DeletionFailure.receipt_id).distinct().where(DeletionFailure.deletion_run_id == run_id)
    return sorted(session.scalars(stmt))


def failures_of(session: Session, run_id: int, limit: int = 100) -> list[DeletionFailure]:
    """The documents still not deleted, for the run's report."""
    stmt = select(DeletionFailure).where(DeletionFailure.deletion_run_id == run_id)
    return list(session.scalars(stmt.order_by(DeletionFailure.receipt_id).limit(limit)))


def add_progress(session: Session, run_id: int, **increments: int | None) -> None:
    """Add to the counters, move the cursor, beat the heart, and recount failures, in one UPDATE."""
    values: dict[str, Any] = {"heartbeat_at": utcnow(), "updated_at": utcnow()}
    for name in ("processed", "succeeded", "attachments_deleted"):
        if increments.get(name):
            values[name] = getattr(DeletionRun, name) + increments[name]
    if increments.get("cursor") is not None:
        values["cursor"] = increments["cursor"]
    mine = DeletionFailure.deletion_run_id == run_id
    values["failed_count"] = select(func.count(distinct(DeletionFailure.receipt_id))).where(mine).scalar_subquery()
    values["attachments_failed"] = (
        select(func.count(distinct(DeletionFailure.storage_key))).where(mine).scalar_subquery()
    )
    session.execute(update(DeletionRun).where(DeletionRun.id == run_id).values(**values))


class DeletionSummary(BaseModel):
    """A deletion run as tasks hand it to the flow and the API reports it (a plain value, no session)."""

    model_config = ConfigDict(frozen=True)

    id: int
    business_id: int
    status: str
    selector: DeletionSelector
    total: int
    processed: int
    succeeded: int
    failed_count: int
    attachments_deleted: int
    attachments_failed: int
    percent: float
    cursor: int | None
    flow_run_id: str | None
    error_message: str | None
    heartbeat_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime

    def as_dict(self) -> JsonObject:
        return self.model_dump()

    def as_json(self) -> JsonObject:
        """Times as ISO strings, for an error body."""
        return self.model_dump(mode="json")


def deletion_summary(run: DeletionRun) -> DeletionSummary:
    """The run as the API and logs report it."""
    percent = 100.0 if run.status == "completed" else (100.0 * run.processed / run.total if run.total else 0.0)
    columns = {name: getattr(run, name) for name in DeletionSummary.model_fields if name != "percent"}
    return DeletionSummary(**columns, percent=round(min(percent, 100.0), 1))


def list_deletion_runs(session: Session, business_id: int | None, *, limit: int) -> list[DeletionRun]:
    """Deletion runs newest first, of one business or of all (None)."""
    stmt = select(DeletionRun).order_by(DeletionRun.id.desc()).limit(limit)
    if business_id is not None:
        stmt = stmt.where(DeletionRun.business_id == business_id)
    return list(session.scalars(stmt))
