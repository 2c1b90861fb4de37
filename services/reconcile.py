"""No run left Running or Cancelling: make our run records and Prefect's flow runs agree about dead processes.

Both kinds of run record are kept honest the same way: sync runs (`gmail-sync` flow runs) and deletion runs
(`receipt-deletion` flow runs); a paused deletion has no process by design and is left alone.

A sync whose process is gone must end, in both places, without waiting for anything that lived in a process's
memory (the zombie automation's expectation does not survive a Prefect server restart; a CANCELLING state
waits for a process that no longer exists to acknowledge it). The reconciler decides from durable facts only:

- our run record's heartbeat (written every `SYNC_HEARTBEAT_SECONDS` by a thread of the flow process) older
  than `SYNC_STALE_AFTER_SECONDS`, or a run past its time limit;
- a run still `queued` while Prefect already ran its flow run past the stale threshold (the process died before
  it could open the run), or shows it Pending that long (a worker took it and died before starting its
  process), or while no live worker polls the pool for `SYNC_PICKUP_TIMEOUT_SECONDS`;
- Prefect's own final state (Crashed/Failed/Cancelled) for a run our record still shows active;
- a Prefect flow run left Running/Pending/Cancelling whose run record has been final for longer than the stale
  threshold (a live process ends its flow run a moment after closing its record: that moment is not a death).

Each dead run is failed in the database with the reason, its Prefect flow run is forced to Crashed (never
Cancelled: nobody is left to acknowledge a cancellation), and its business's concurrency slot is freed so the
next sync starts at once and resumes from the checkpoint. It runs at `receipts up` start, in every
`incremental-syncs` round, in `receipts doctor`, and before every trigger of a business's sync.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
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
from models.deletion import DeletionRun
from models.queries.deletions import finish_deletion_run
from models.queries.sync_runs import (
    active_runs_of,
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
class RunKind:
    """A kind of run record the reconciler keeps honest: its table, its flow runs' tag, its slot, how it ends."""

    name: str  # "sync" or "deletion": also the kind of the business's concurrency slot
    model: type[SyncRun] | type[DeletionRun]
    tag: str  # every flow run of this kind carries it (services/run_labels.py, services/deletion_requests.py)
    finish: Callable[[Session, Any, str, str | None], None]


SYNC = RunKind("sync", SyncRun, "gmail-sync", finish_run)
DELETION = RunKind("deletion", DeletionRun, "receipt-deletion", finish_deletion_run)
KINDS = (SYNC, DELETION)


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
    kind: str = SYNC.name


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
    run: SyncRun | DeletionRun,
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
    stale_after = timedelta(seconds=settings.sync_stale_after_seconds)
    beating = run.heartbeat_at is not None and now - run.heartbeat_at <= stale_after  # waiting for its slot
    taken_for = now - state_since if prefect_state in ("PENDING", "RUNNING") and state_since else None
    if taken_for and taken_for > stale_after and not beating:
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


def fail_dead_runs(
    session: Session,
    settings: Settings,
    flow_runs: dict[str, FlowRunFacts],
    worker_alive: bool | None,
    kind: RunKind = SYNC,
) -> list[DeadRun]:
    """Fail every active run of `kind` without a live process (the caller commits); returns what it failed."""
    dead = []
    for run in active_runs_of(session, kind.model):
        facts = flow_runs.get(run.flow_run_id or "") or FlowRunFacts(None)
        reason = dead_reason(
            run, settings, prefect_state=facts.state, worker_alive=worker_alive, state_since=facts.since
        )
        if reason:
            kind.finish(session, run, "failed", f"stale: {reason}")
            dead.append(DeadRun(run.business_id, run.id, run.flow_run_id, reason, kind.name))
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


def crash_quietly(
    settings: Settings, business_id: int, flow_run_id: str | None, reason: str, kind: str = SYNC.name
) -> bool:
    """Best effort for one run already failed in the database: its flow run Crashed, its slot freed."""
    free_slot(business_id, kind)
    if not flow_run_id:
        return False
    try:
        with prefect_access.prefect_client(settings) as client:
            return crash_flow_run(client, flow_run_id, reason)
    except OrchestratorUnavailable:
        return False


def free_slot(business_id: int, kind: str = SYNC.name) -> None:
    """Best effort: without it the next run waits for the dead holder's lease (60 s) to expire."""
    with contextlib.suppress(Exception):
        free_dead_holders_slot(kind, business_id)


def _unfinished_flow_runs(client: object, tag: str) -> dict[str, FlowRunFacts]:
    """Every flow run tagged `tag` that Prefect does not consider final, by id."""
    flt = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[tag]),
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
    """One pass over every active sync and deletion run and every unfinished flow run of theirs.

    The database side is committed before Prefect is touched, and Prefect being unreachable does not stop it
    (the heartbeat and time rules need no Prefect).
    """
    result = Reconciliation()
    for kind in KINDS:
        _reconcile_kind(settings, kind, result)
    return result


def _reconcile_kind(settings: Settings, kind: RunKind, result: Reconciliation) -> None:
    facts: dict[str, FlowRunFacts] = {}
    unfinished: dict[str, FlowRunFacts] = {}
    worker_alive: bool | None = None
    with session_scope() as session:
        active_ids = [r.flow_run_id for r in active_runs_of(session, kind.model) if r.flow_run_id]
    prefect_error = None
    try:
        with prefect_access.prefect_client(settings) as client:
            unfinished = _unfinished_flow_runs(client, kind.tag)
            facts = {**_facts_of(client, [i for i in active_ids if i not in unfinished]), **unfinished}
            worker_alive = bool(prefect_access.pool_status(settings).online_workers)
    except OrchestratorUnavailable as exc:
        prefect_error = str(exc)
    with session_scope() as session:
        failed = fail_dead_runs(session, settings, facts, worker_alive, kind)
    result.failed += failed
    if prefect_error is None:
        to_crash = {d.flow_run_id: d.reason for d in failed if d.flow_run_id}
        with session_scope() as session:
            to_crash.update(_orphans(session, kind, unfinished, to_crash, settings))
        try:
            with prefect_access.prefect_client(settings) as client:
                for flow_run_id, reason in to_crash.items():
                    if crash_flow_run(client, flow_run_id, reason):
                        result.crashed_flow_runs.append(flow_run_id)
        except OrchestratorUnavailable as exc:
            prefect_error = str(exc)
    result.prefect_error = result.prefect_error or prefect_error
    for business_id in sorted({d.business_id for d in failed}):
        free_slot(business_id, kind.name)
    for dead in failed:
        logger.warning("%s run %s of business %s failed: %s", kind.name, dead.run_id, dead.business_id, dead.reason)


def _orphans(
    session: Session,
    kind: RunKind,
    unfinished: dict[str, FlowRunFacts],
    already: dict[str, str],
    settings: Settings,
) -> dict[str, str]:
    """Unfinished flow runs whose run record has been final for a while: their process is gone or must stop.

    A live process closes its record a moment before its flow run ends; within the stale threshold of the
    record's end that is not taken for a death (it would crash a run that is just completing)."""
    candidates = [i for i in unfinished if i not in already]
    if not candidates:
        return {}
    settled_before = utcnow() - timedelta(seconds=settings.sync_stale_after_seconds)
    return {
        flow_run_id: f"its {kind.name} run is already {status}" + (f" ({message[:200]})" if message else "")
        for flow_run_id, status, message, finished_at in run_states_by_flow_run(session, candidates, kind.model)
        if status not in (*ACTIVE_STATUSES, "paused") and (finished_at is None or finished_at < settled_before)
    }


def reconcile_business(
    session: Session, settings: Settings, run: SyncRun | DeletionRun, kind: RunKind = SYNC
) -> str | None:
    """The per-trigger check for one business's active run: fail it when dead, crash its flow run, free its slot.

    Returns the reason when it was dead. Used by the API's triggers and reruns, where a full pass would be too
    slow.
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
    kind.finish(session, run, "failed", f"stale: {reason}")
    session.flush()  # the caller commits (the trigger's transaction)
    if run.flow_run_id:
        with contextlib.suppress(OrchestratorUnavailable), prefect_access.prefect_client(settings) as client:
            crash_flow_run(client, run.flow_run_id, reason)
    free_slot(run.business_id, kind.name)
    return reason
