"""No run left Running or Cancelling: make our run records and Prefect's flow runs agree about dead processes.

A sync whose process is gone must end, in both places, without waiting for anything that lived in a process's
memory (the zombie automation's expectation does not survive a Prefect server restart; a CANCELLING state
waits for a process that no longer exists to acknowledge it). The reconciler decides from durable facts only:

- our run record's heartbeat (written every `SYNC_HEARTBEAT_SECONDS` by the flow process) older than
  `SYNC_STALE_AFTER_SECONDS`, or a run past its time limit;
- a run still `queued` while Prefect already ran its flow run past the stale threshold (the process died before
  it could open the run), or shows it Pending that long (a worker took it and died before starting its
  process), or while no live worker polls the pool for `SYNC_PICKUP_TIMEOUT_SECONDS`;
- Prefect's own final state (Crashed/Failed/Cancelled) for a run our record still shows active;
- a Prefect flow run left Running/Pending/Cancelling whose run record is already final.

Each dead run is failed in the database with the reason, its Prefect flow run is forced to Crashed (never
Cancelled: nobody is left to acknowledge a cancellation), and its business's concurrency slot is freed so the
next sync starts at once and resumes from the checkpoint. It runs at `receipts up` start, in every
`incremental-syncs` round, in `receipts doctor`, and before every trigger of a business's sync.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import State
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.queries.sync_runs import (
    active_sync_runs,
    finish_run,
    run_states_by_flow_run,
    stale_reason,
    stale_thresholds,
)
from models.runs import ACTIVE_STATUSES, SyncRun
from receipt_sync.errors import OrchestratorUnavailable
from receipt_sync.settings import Settings
from services import prefect_access
from services.slots import free_dead_holders_slot

logger = logging.getLogger(__name__)

CRASHED_MESSAGE = "Crashed by the receipts reconciler: {reason}"
NO_WORKER = "no worker picked it up within {seconds} s"
_UNFINISHED = ("SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "PAUSED")
_ENDED = ("CRASHED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class FlowRunFacts:
    """What Prefect knows of a flow run that the reconciler uses: its state type and since when."""

    state: str | None
    since: datetime | None = None

    @classmethod
    def of(cls, run: object) -> FlowRunFacts:
        state = run.state  # type: ignore[attr-defined]
        return cls(state.type.value, state.timestamp) if state else cls(None)


@dataclass(frozen=True)
class DeadRun:
    business_id: int
    run_id: int | None
    flow_run_id: str | None
    reason: str


@dataclass
class Reconciliation:
    """What one pass did; `prefect_error` says why Prefect's side could not be checked (the database side was)."""

    failed: list[DeadRun] = field(default_factory=list)
    crashed_flow_runs: list[str] = field(default_factory=list)
    prefect_error: str | None = None

    def summary(self) -> str:
        if not self.failed and not self.crashed_flow_runs:
            return "no dead runs"
        return f"{len(self.failed)} dead run(s) failed, {len(self.crashed_flow_runs)} flow run(s) set Crashed"


def _as_uuid(flow_run_id: str | None) -> UUID | None:
    try:
        return UUID(flow_run_id) if flow_run_id else None
    except ValueError:
        return None


def dead_reason(
    run: SyncRun,
    settings: Settings,
    *,
    prefect_state: str | None,
    worker_alive: bool | None,
    state_since: datetime | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why `run` (queued or running) has no live process behind it, or None while it may still be working.

    `prefect_state` is its flow run's state type (None when unknown), `worker_alive` whether a worker with a
    fresh heartbeat polls the pool (None when unknown: then the pickup rule waits), `state_since` when Prefect
    entered that state.
    """
    if run.status not in ACTIVE_STATUSES:
        return None
    now = now or utcnow()
    if prefect_state in _ENDED:
        return f"Prefect ended its flow run as {prefect_state.title()}"
    if run.status == "running":
        return stale_reason(run, **stale_thresholds(settings), now=now)
    waited = now - run.created_at
    taken_for = now - state_since if prefect_state in ("PENDING", "RUNNING") and state_since else None
    if taken_for and taken_for > timedelta(seconds=settings.sync_stale_after_seconds):
        # PENDING: a worker took the run and died before its flow process started (nobody else will start it).
        what = (
            "its flow process started but never opened the run"
            if prefect_state == "RUNNING"
            else "a worker took its flow run but never started its process"
        )
        return f"{what} in {int(taken_for.total_seconds())} s"
    if worker_alive is False and waited > timedelta(seconds=settings.sync_pickup_timeout_seconds):
        return NO_WORKER.format(seconds=int(settings.sync_pickup_timeout_seconds))
    if waited > timedelta(seconds=settings.sync_time_limit_seconds):
        return f"queued longer than its time limit of {int(settings.sync_time_limit_seconds)} s"
    return None


def active_runs(session: Session) -> list[SyncRun]:
    return active_sync_runs(session)


def fail_dead_runs(
    session: Session, settings: Settings, flow_runs: dict[str, FlowRunFacts], worker_alive: bool | None
) -> list[DeadRun]:
    """Fail every active run without a live process (the caller commits); returns what it failed."""
    dead = []
    for run in active_runs(session):
        facts = flow_runs.get(run.flow_run_id or "") or FlowRunFacts(None)
        reason = dead_reason(
            run, settings, prefect_state=facts.state, worker_alive=worker_alive, state_since=facts.since
        )
        if reason:
            finish_run(session, run, "failed", f"stale: {reason}")
            dead.append(DeadRun(run.business_id, run.id, run.flow_run_id, reason))
    return dead


def crash_flow_run(client: object, flow_run_id: str, reason: str) -> bool:
    """Force the flow run to Crashed unless it is already final; True when it was changed."""

    run_uuid = _as_uuid(flow_run_id)
    if run_uuid is None:
        return False
    try:
        run = client.read_flow_run(run_uuid)  # type: ignore[attr-defined]
    except ObjectNotFound:
        return False
    if run.state is None or run.state.type.value not in _UNFINISHED:
        return False
    crashed = State(type=StateType.CRASHED, name="Crashed", message=CRASHED_MESSAGE.format(reason=reason))
    client.set_flow_run_state(run_uuid, crashed, force=True)  # type: ignore[attr-defined]
    return True


def crash_quietly(settings: Settings, business_id: int, flow_run_id: str | None, reason: str) -> bool:
    """Best effort for one run already failed in the database: its flow run Crashed, its slot freed."""
    free_slot(business_id)
    if not flow_run_id:
        return False
    try:
        with prefect_access.prefect_client(settings) as client:
            return crash_flow_run(client, flow_run_id, reason)
    except OrchestratorUnavailable:
        return False


def free_slot(business_id: int) -> None:
    """Best effort: without it the next run waits for the dead holder's lease (60 s) to expire."""
    with contextlib.suppress(Exception):
        free_dead_holders_slot("sync", business_id)


def _unfinished_sync_flow_runs(client: object) -> dict[str, FlowRunFacts]:
    """Every gmail-sync flow run Prefect does not consider final, by id."""
    flt = FlowRunFilter(
        tags=FlowRunFilterTags(all_=["gmail-sync"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in _UNFINISHED])),
    )
    found: dict[str, FlowRunFacts] = {}
    offset = 0
    while True:
        page = client.read_flow_runs(flow_run_filter=flt, limit=200, offset=offset)  # type: ignore[attr-defined]
        found.update({str(r.id): FlowRunFacts.of(r) for r in page})
        if len(page) < 200:
            return found
        offset += 200


def _facts_of(client: object, flow_run_ids: list[str]) -> dict[str, FlowRunFacts]:
    ids = [u for u in (_as_uuid(i) for i in flow_run_ids) if u]
    if not ids:
        return {}
    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))  # type: ignore[attr-defined]
    return {str(r.id): FlowRunFacts.of(r) for r in runs}


def reconcile_runs(settings: Settings) -> Reconciliation:
    """One pass over every active run and every unfinished gmail-sync flow run.

    The database side is committed before Prefect is touched, and Prefect being unreachable does not stop it
    (the heartbeat and time rules need no Prefect).
    """
    result = Reconciliation()
    facts: dict[str, FlowRunFacts] = {}
    unfinished: dict[str, FlowRunFacts] = {}
    worker_alive: bool | None = None
    with session_scope() as session:
        active_ids = [r.flow_run_id for r in active_runs(session) if r.flow_run_id]
    try:
        with prefect_access.prefect_client(settings) as client:
            unfinished = _unfinished_sync_flow_runs(client)
            facts = {**_facts_of(client, [i for i in active_ids if i not in unfinished]), **unfinished}
            worker_alive = bool(prefect_access.pool_status(settings).online_workers)
    except OrchestratorUnavailable as exc:
        result.prefect_error = str(exc)
    with session_scope() as session:
        result.failed = fail_dead_runs(session, settings, facts, worker_alive)
    if result.prefect_error:
        return result
    to_crash = {d.flow_run_id: d.reason for d in result.failed if d.flow_run_id}
    with session_scope() as session:
        to_crash.update(_orphans(session, unfinished, to_crash))
    try:
        with prefect_access.prefect_client(settings) as client:
            for flow_run_id, reason in to_crash.items():
                if crash_flow_run(client, flow_run_id, reason):
                    result.crashed_flow_runs.append(flow_run_id)
    except OrchestratorUnavailable as exc:
        result.prefect_error = str(exc)
    for business_id in sorted({d.business_id for d in result.failed}):
        free_slot(business_id)
    for dead in result.failed:
        logger.warning("sync run %s of business %s failed: %s", dead.run_id, dead.business_id, dead.reason)
    return result


def _orphans(session: Session, unfinished: dict[str, FlowRunFacts], already: dict[str | None, str]) -> dict[str, str]:
    """Unfinished flow runs whose run record is already final: their process is gone or must stop."""
    candidates = [i for i in unfinished if i not in already]
    if not candidates:
        return {}
    rows = run_states_by_flow_run(session, candidates)
    return {
        flow_run_id: f"its sync run is already {status}" + (f" ({message[:200]})" if message else "")
        for flow_run_id, status, message in rows
        if status not in ACTIVE_STATUSES
    }


def reconcile_business(session: Session, settings: Settings, run: SyncRun) -> str | None:
    """The per-trigger check for one business's active run: fail it when dead, crash its flow run, free its slot.

    Returns the reason when it was dead. Used by the API's trigger and rerun, where a full pass would be too slow.
    """
    facts = FlowRunFacts(None)
    worker_alive: bool | None = None
    with contextlib.suppress(OrchestratorUnavailable):
        if run.flow_run_id:
            with prefect_access.prefect_client(settings) as client:
                facts = _facts_of(client, [run.flow_run_id]).get(run.flow_run_id, facts)
        if run.status == "queued":
            worker_alive = bool(prefect_access.pool_status(settings).online_workers)
    reason = dead_reason(run, settings, prefect_state=facts.state, worker_alive=worker_alive, state_since=facts.since)
    if not reason:
        return None
    finish_run(session, run, "failed", f"stale: {reason}")
    session.flush()  # the caller commits (the trigger's transaction)
    if run.flow_run_id:
        with contextlib.suppress(OrchestratorUnavailable), prefect_access.prefect_client(settings) as client:
            crash_flow_run(client, run.flow_run_id, reason)
    free_slot(run.business_id)
    return reason
