"""Sync run records: creating one under the database's one-active-run guard, progress, and the stale rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypedDict, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.deletion import DeletionRun
from models.runs import ACTIVE_STATUSES, SyncParameters, SyncRun
from receipt_sync import process_identity
from receipt_sync.errors import DeletionAlreadyRunning, NotFoundError, SyncAlreadyRunning
from receipt_sync.settings import Settings

Run = TypeVar("Run", bound=SyncRun | DeletionRun)

ERROR_MESSAGE_LIMIT = 2000


def active_sync_run(session: Session, business_id: int) -> SyncRun | None:
    return session.scalars(
        select(SyncRun).where(SyncRun.business_id == business_id, SyncRun.status.in_(ACTIVE_STATUSES))
    ).first()


def create_sync_run(
    session: Session,
    *,
    business_id: int,
    mailbox_id: int | None,
    mode: str,
    trigger: str,
    parameters: SyncParameters,
    rerun_of: SyncRun | None = None,
) -> SyncRun:
    """Insert a queued run; the partial unique index turns a concurrent second request into `SyncAlreadyRunning`.

    The insert runs in a savepoint so the caller's transaction survives the refusal.
    """
    run = SyncRun(
        business_id=business_id,
        mailbox_id=mailbox_id,
        mode=mode,
        trigger=trigger,
        parameters=parameters,
        status="queued",
        rerun_of_id=rerun_of.id if rerun_of else None,
        checkpoint=dict(rerun_of.checkpoint) if rerun_of and rerun_of.checkpoint else None,
    )
    insert_queued_run(session, run, active_sync_run, SyncAlreadyRunning, "sync")
    return run


def insert_queued_run(
    session: Session,
    run: SyncRun | DeletionRun,
    active_run: Callable[[Session, int], SyncRun | DeletionRun | None],
    refusal: type[SyncAlreadyRunning | DeletionAlreadyRunning],
    kind: str,
) -> None:
    """Insert `run` in a savepoint: the partial unique index (one active run of a kind per business) turns a
    concurrent second insert into `refusal` naming the active run, and the caller's transaction survives it."""
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        active = active_run(session, run.business_id)
        raise refusal(
            f"a {kind} of business {run.business_id} is already {active.status if active else 'active'}",
            run_id=active.id if active else None,
        ) from None


def get_sync_run(session: Session, run_id: int, *, business_id: int | None = None, for_update: bool = False) -> SyncRun:
    """The run; with `business_id`, another business's run is 'not found' (never 'forbidden')."""
    return get_run(session, SyncRun, run_id, business_id=business_id, for_update=for_update)


def get_run(session: Session, model: type[Run], run_id: int, *, business_id: int | None, for_update: bool) -> Run:
    """A sync or deletion run; with `business_id`, another business's run is 'not found' (never 'forbidden')."""
    stmt = select(model).where(model.id == run_id)
    if business_id is not None:
        stmt = stmt.where(model.business_id == business_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    run = session.scalars(stmt).first()
    if run is None:
        raise NotFoundError(f"{'sync' if model is SyncRun else 'deletion'} run {run_id} not found")
    return run


def mark_running(session: Session, run: SyncRun, flow_run_id: str | None) -> None:
    now = utcnow()
    run.status = "running"
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.error_message = None
    run.process = process_identity.current()  # the flow process calls this: the one that works on the run
    if flow_run_id:
        run.flow_run_id = flow_run_id


def heartbeat(session: Session, run_id: int, model: type[SyncRun] | type[DeletionRun] = SyncRun) -> None:
    """The run's process is alive: a sync or deletion run record's heartbeat set to now."""
    session.execute(update(model).where(model.id == run_id).values(heartbeat_at=utcnow()))


def finish_run(session: Session, run: SyncRun, status: str, error_message: str | None = None) -> None:
    run.status = status
    run.finished_at = utcnow()
    run.heartbeat_at = run.finished_at
    if status == "completed":
        run.percent = 100.0
    if error_message is not None:
        run.error_message = error_message[:ERROR_MESSAGE_LIMIT]


class StaleThresholds(TypedDict):
    """The keyword arguments of `stale_reason` and `fail_if_stale` (`**stale_thresholds(settings)`)."""

    stale_after: timedelta
    time_limit: timedelta


def stale_thresholds(settings: Settings) -> StaleThresholds:
    """The stale rule's parameters (SPEC §6): no heartbeat for `SYNC_STALE_AFTER_SECONDS`, or past the time limit."""
    return StaleThresholds(
        stale_after=timedelta(seconds=settings.sync_stale_after_seconds),
        time_limit=timedelta(seconds=settings.sync_time_limit_seconds),
    )


def stale_reason(
    run: SyncRun | DeletionRun, *, stale_after: timedelta, time_limit: timedelta, now: datetime | None = None
) -> str | None:
    """Why an active run is stale (its process seen gone on this machine, no heartbeat for `stale_after`, or older
    than `time_limit`), else None.

    A queued run has no process yet to beat (it may wait for a worker slot): only the time limit applies here;
    services/reconcile.py fails one that no live worker picks up.
    """
    if run.status not in ACTIVE_STATUSES:
        return None
    if run.status == "running" and process_identity.gone(run.process):
        return f"its process (pid {process_identity.pid_of(run.process)}) is gone"
    now = now or utcnow()
    last_sign = run.heartbeat_at or run.created_at
    if run.status == "running" and last_sign and now - last_sign > stale_after:
        return f"no heartbeat for {int((now - last_sign).total_seconds())} s (worker lost?)"
    started = run.started_at or run.created_at
    if started and now - started > time_limit:
        return f"ran longer than its time limit of {int(time_limit.total_seconds())} s"
    return None


def fail_if_stale(session: Session, run: SyncRun, *, stale_after: timedelta, time_limit: timedelta) -> str | None:
    """Fail `run` when it is stale; returns the reason (the caller cancels its Prefect flow run)."""
    reason = stale_reason(run, stale_after=stale_after, time_limit=time_limit)
    if reason:
        finish_run(session, run, "failed", f"stale: {reason}")
    return reason


def latest_sync_run(session: Session, business_id: int) -> SyncRun | None:
    return session.scalars(
        select(SyncRun).where(SyncRun.business_id == business_id).order_by(SyncRun.id.desc())
    ).first()


def list_sync_runs(session: Session, business_id: int | None, *, before_id: int | None, limit: int) -> list[SyncRun]:
    """Runs newest first (of one business, or all with None), keyset-paged by `before_id`."""
    stmt = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
    if business_id is not None:
        stmt = stmt.where(SyncRun.business_id == business_id)
    if before_id is not None:
        stmt = stmt.where(SyncRun.id < before_id)
    return list(session.scalars(stmt))


def active_sync_runs(session: Session) -> list[SyncRun]:
    """Every business's queued or running run, oldest first."""
    return active_runs_of(session, SyncRun)


def active_runs_of(session: Session, model: type[Run]) -> list[Run]:
    """Every queued or running run record of `model` (a paused deletion has no process: not listed), oldest first."""
    return list(session.scalars(select(model).where(model.status.in_(ACTIVE_STATUSES)).order_by(model.id)))


def sync_run_by_flow_run(session: Session, flow_run_id: str) -> SyncRun | None:
    return session.scalars(select(SyncRun).where(SyncRun.flow_run_id == flow_run_id)).first()


def run_states_by_flow_run(
    session: Session, flow_run_ids: list[str], model: type[SyncRun] | type[DeletionRun] = SyncRun
) -> list[tuple[str, str, str | None, datetime | None]]:
    """(flow run id, status, error message, finished at) of the run records those flow runs work on."""
    rows = session.execute(
        select(model.flow_run_id, model.status, model.error_message, model.finished_at).where(
            model.flow_run_id.in_(flow_run_ids)
        )
    ).all()
    return [(flow_run_id, status, message, finished) for flow_run_id, status, message, finished in rows]
