"""History that stays bounded: prune our own final run records after `RUN_RETENTION_DAYS`, and the retention
settings for the Prefect server `receipts up` starts (Prefect 3.8's db_vacuum service).

Our pruning runs in every `incremental-syncs` round, in batches of `RETENTION_BATCH_SIZE`, one short
transaction each (keyset by id, `FOR UPDATE SKIP LOCKED`): no table lock, and a round's API triggers are never
blocked behind it. What is always kept is listed in models/queries/retention.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionRun
from models.queries.retention import RunCounts, RunModel, count_prunable_runs, delete_old_runs, run_table_counts
from models.runs import SyncRun
from receipt_sync.settings import Settings

DAY_SECONDS = 86400
# Prefect's vacuum refuses a retention period of an hour or less; a flow run is kept at least a day.
MIN_PREFECT_RETENTION_DAYS = 1


@dataclass(frozen=True)
class PruneResult(RunCounts):
    """The runs pruned, and the end before which they had ended."""

    cutoff: datetime | None  # None: retention is off (RUN_RETENTION_DAYS=0)

    def summary(self) -> str:
        if self.cutoff is None:
            return "run history kept forever (RUN_RETENTION_DAYS=0)"
        return (
            f"pruned {self.sync_runs} sync run(s) and {self.deletion_runs} deletion run(s) "
            f"that ended before {self.cutoff:%Y-%m-%d %H:%M} UTC"
        )


def retention_cutoff(settings: Settings, now: datetime | None = None) -> datetime | None:
    """Runs that ended before this are prunable; None when history is kept forever."""
    if settings.run_retention_days == 0:
        return None
    return (now or utcnow()) - timedelta(days=settings.run_retention_days)


def _prune(model: RunModel, cutoff: datetime, limit: int, url: str | None) -> int:
    """Delete batch after batch, each in its own transaction, until a batch comes back empty."""
    deleted, after_id = 0, 0
    while True:
        with session_scope(url) as session:
            ids = delete_old_runs(session, model, cutoff, after_id=after_id, limit=limit)
        deleted += len(ids)
        if not ids:
            return deleted
        after_id = ids[-1]


def prune_run_history(settings: Settings, *, now: datetime | None = None, url: str | None = None) -> PruneResult:
    """Delete final sync and deletion runs older than the retention period (never the ones kept on purpose)."""
    cutoff = retention_cutoff(settings, now)
    if cutoff is None:
        return PruneResult(0, 0, None)
    limit = settings.retention_batch_size
    return PruneResult(_prune(SyncRun, cutoff, limit, url), _prune(DeletionRun, cutoff, limit, url), cutoff)


def history_report(session: Session, settings: Settings, now: datetime | None = None) -> str:
    """What `receipts doctor` says about run history: stored rows, and what the next round would prune."""
    counts = run_table_counts(session)
    cutoff = retention_cutoff(settings, now)
    stored = f"{counts.sync_runs} sync run(s), {counts.deletion_runs} deletion run(s) stored"
    if cutoff is None:
        return f"{stored}; kept forever (RUN_RETENTION_DAYS=0)"
    return (
        f"{stored}; {count_prunable_runs(session, cutoff).total} older than {settings.run_retention_days} day(s), "
        "pruned by the next incremental round"
    )


def prefect_retention_env(settings: Settings, environ: dict[str, str]) -> dict[str, str]:
    """Prefect server variables that bound its history, unless the operator set them (`environ` wins).

    The db_vacuum service's `flow_runs` type deletes top-level flow runs that ended more than the retention
    period ago, with their task runs, logs and artifacts (orphan cleanup follows); `events` trims events after
    PREFECT_SERVER_EVENTS_RETENTION_PERIOD (Prefect's default 7 days; heartbeat events after 7 days too).
    RUN_RETENTION_DAYS=0 leaves flow runs alone (Prefect's default: only events are vacuumed).
    """
    wanted: dict[str, str] = {}
    if settings.run_retention_days:
        days = max(settings.run_retention_days, MIN_PREFECT_RETENTION_DAYS)
        wanted["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] = "events,flow_runs"
        wanted["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] = str(days * DAY_SECONDS)
    return {k: v for k, v in wanted.items() if not environ.get(k, "").strip()}
