"""Run-history retention queries: which final run records are old enough to prune, deleted in small batches.

Kept, whatever their age: active runs, the latest run of each business (the UI's "last sync" and the next
incremental's starting point), a run an active rerun points to (`rerun_of_id`: it resumes from that run's
checkpoint), and a deletion run with unresolved `deletion_failure` rows (the documents storage refused: they
are reported until a retry deletes them, and would be lost with their run through ON DELETE CASCADE).
Receipts keep their `sync_run_id` (a plain column, no foreign key): it then names a pruned run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, text
from sqlalchemy.orm import Session, aliased

from models.deletion import DeletionFailure, DeletionRun
from models.runs import ACTIVE_STATUSES, SyncRun

FINAL_SYNC_STATUSES = ("completed", "failed", "cancelled")
FINAL_DELETION_STATUSES = ("completed", "failed", "cancelled")


def _ended_before(model: type[SyncRun] | type[DeletionRun], cutoff: datetime) -> ColumnElement[bool]:
    """A run's end (its last write when it never recorded one) is older than `cutoff`."""
    return func.coalesce(model.finished_at, model.updated_at) < cutoff


def _prunable_sync_runs(cutoff: datetime) -> ColumnElement[bool]:
    newer = aliased(SyncRun)
    rerun = aliased(SyncRun)
    return and_(
        SyncRun.status.in_(FINAL_SYNC_STATUSES),
        _ended_before(SyncRun, cutoff),
        exists().where(newer.business_id == SyncRun.business_id, newer.id > SyncRun.id),
        # Uncorrelated (hashed once; rerun_of_id has no index): the few active runs' origins.
        SyncRun.id.not_in(
            select(rerun.rerun_of_id).where(rerun.status.in_(ACTIVE_STATUSES), rerun.rerun_of_id.is_not(None))
        ),
    )


def _prunable_deletion_runs(cutoff: datetime) -> ColumnElement[bool]:
    newer = aliased(DeletionRun)
    return and_(
        DeletionRun.status.in_(FINAL_DELETION_STATUSES),
        _ended_before(DeletionRun, cutoff),
        exists().where(newer.business_id == DeletionRun.business_id, newer.id > DeletionRun.id),
        ~exists().where(DeletionFailure.deletion_run_id == DeletionRun.id),
    )


@dataclass(frozen=True)
class RunCounts:
    """How many sync and deletion run records: stored, prunable or pruned."""

    sync_runs: int
    deletion_runs: int

    @property
    def total(self) -> int:
        return self.sync_runs + self.deletion_runs


RunModel = type[SyncRun] | type[DeletionRun]
_PRUNABLE = {SyncRun: _prunable_sync_runs, DeletionRun: _prunable_deletion_runs}


def delete_old_runs(session: Session, model: RunModel, cutoff: datetime, *, after_id: int, limit: int) -> list[int]:
    """Delete up to `limit` prunable runs of `model` with id > `after_id` (keyset: each batch is a short
    transaction that locks only its own rows); returns their ids, ascending."""
    ids = list(
        session.scalars(
            select(model.id)
            .where(model.id > after_id, _PRUNABLE[model](cutoff))
            .order_by(model.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(delete(model).where(model.id.in_(ids)), execution_options={"synchronize_session": False})
    return ids


def _count(session: Session, model: RunModel, *where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def count_prunable_runs(session: Session, cutoff: datetime) -> RunCounts:
    """The runs the next pruning would delete — what `receipts doctor` reports."""
    return RunCounts(
        _count(session, SyncRun, _prunable_sync_runs(cutoff)),
        _count(session, DeletionRun, _prunable_deletion_runs(cutoff)),
    )


def run_table_counts(session: Session) -> RunCounts:
    """The runs stored."""
    return RunCounts(_count(session, SyncRun), _count(session, DeletionRun))


def table_sizes(session: Session) -> dict[str, int]:
    """Bytes each table of the public schema takes on disk, with its indexes and TOAST (a growth measure)."""
    rows = session.execute(
        text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"
        )
    )
    return {name: int(size) for name, size in rows}
