"""Triggering, reporting, rerunning and cancelling syncs: the run record in our database plus Prefect's view.

A trigger inserts the queued run (the partial unique index is the atomic one-active-run guard), creates the
flow run through the deployment, stores its id and commits — all in one transaction, so a refused trigger
(Prefect unreachable, no worker) leaves no row behind and concurrent requests wait on the index, then 409.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from models.queries.businesses import get_business
from models.queries.mailboxes import mailbox_statuses
from models.queries.sync_runs import (
    active_sync_run,
    create_sync_run,
    finish_run,
    stale_reason,
    stale_thresholds,
)
from models.runs import ACTIVE_STATUSES, SyncParameters, SyncRun
from receipt_sync.errors import (
    MailboxAuthError,
    MailboxNotConnected,
    OrchestratorUnavailable,
    RunStateConflict,
    SyncAlreadyRunning,
)
from receipt_sync.settings import Settings
from services import prefect_access
from services.prefect_access import FlowRunRequest, FlowRunState
from services.reconcile import reconcile_business
from services.run_labels import business_tags, sync_run_name
from services.runs import start_flow_run
from services.sweep import yield_sweep

RERUNNABLE = ("failed", "cancelled")


@dataclass
class RunView:
    """A run record with what Prefect says about it, ready to serialize."""

    run: SyncRun
    prefect_state: FlowRunState | None
    prefect_error: str | None
    stale_reason: str | None
    ui_url: str | None


def _read_state(settings: Settings, run: SyncRun) -> tuple[FlowRunState | None, str | None]:
    if not run.flow_run_id:
        return None, None
    try:
        return prefect_access.read_flow_run_state(settings, run.flow_run_id), None
    except OrchestratorUnavailable as exc:
        return None, str(exc)


def reconcile(session: Session, settings: Settings, run: SyncRun) -> RunView:
    """Report `run` with its Prefect state; a run Prefect ended (Crashed/Failed/Cancelled) is never 'running'."""
    state, error = _read_state(settings, run)
    if run.status in ACTIVE_STATUSES and state and state.type in ("CRASHED", "FAILED", "CANCELLED"):
        status = "cancelled" if state.type == "CANCELLED" else "failed"
        detail = f": {state.message}" if state.message else ""
        finish_run(session, run, status, f"Prefect marked the flow run {state.name}{detail}")
        session.flush()
    reason = stale_reason(run, **stale_thresholds(settings))
    return RunView(run, state, error, reason, prefect_access.flow_run_ui_url(settings, run.flow_run_id))


def history_view(session: Session, settings: Settings, run: SyncRun) -> RunView:
    """A run for the history list: Prefect is asked only about runs still active (finished ones stay as they are)."""
    if run.status in ACTIVE_STATUSES:
        return reconcile(session, settings, run)
    return RunView(run, None, None, None, prefect_access.flow_run_ui_url(settings, run.flow_run_id))


def clear_dead_run(session: Session, settings: Settings, business_id: int) -> SyncRun | None:
    """Fail the business's active run if Prefect ended it or its process is gone (services/reconcile.py).

    A dead run's flow run is set Crashed (not cancelled: no process is left to acknowledge a cancellation)
    and its slot freed. Returns the run when it failed that way, so the next run can resume it.
    """
    active = active_sync_run(session, business_id)
    if active is None:
        return None
    reconcile(session, settings, active)
    if active.status in ACTIVE_STATUSES:
        reconcile_business(session, settings, active)
    session.commit()
    return active if active.status == "failed" else None


def require_mailbox(session: Session, business_id: int) -> int:
    """The business's active mailbox id; refuse a sync that could only fail (none, or needs reconnecting)."""
    rows = mailbox_statuses(session, business_id)
    statuses = {status: mailbox_id for mailbox_id, status in reversed(rows)}
    if "active" in statuses:
        return statuses["active"]
    if "needs_reauth" in statuses:
        raise MailboxAuthError("the mailbox must be reconnected before it can sync (connect-gmail)")
    raise MailboxNotConnected(f"business {business_id} has no connected mailbox")


def already_running(session: Session, business_id: int, exc: SyncAlreadyRunning | None = None) -> Exception:
    """A 409 that carries the active run's progress, so the UI can show it instead of an error."""
    active = active_sync_run(session, business_id)
    err = exc or SyncAlreadyRunning(
        f"a sync of business {business_id} is already {active.status if active else 'active'}",
        run_id=active.id if active else None,
    )
    err.details = {"run": asdict(SyncProgress.of(active))} if active else {}  # type: ignore[attr-defined]
    return err


@dataclass(frozen=True)
class SyncProgress:
    """How far an active sync run is: what a 409 carries and the diagnostics list."""

    id: int
    status: str
    percent: float | None
    pages_done: int
    messages_scanned: int
    receipts_saved: int
    heartbeat_at: str | None  # ISO 8601, as the run record's other times travel in an error body
    flow_run_id: str | None
    sweep_status: str | None  # running: only sweeping, a new sync request makes it yield

    @classmethod
    def of(cls, run: SyncRun) -> SyncProgress:
        heartbeat = run.heartbeat_at.isoformat() if run.heartbeat_at else None
        return cls(run.id, run.status, run.percent, run.pages_done, run.messages_scanned, run.receipts_saved,
                   heartbeat, run.flow_run_id, run.sweep_status)  # fmt: skip


def request_sync(
    session: Session,
    settings: Settings,
    *,
    business_id: int,
    parameters: SyncParameters,
    trigger: str = "api",
    rerun_of: SyncRun | None = None,
) -> SyncRun:
    """Create the queued run and its Prefect flow run, or refuse (409 / 503) leaving nothing behind."""
    mailbox_id = require_mailbox(session, business_id)
    dead = clear_dead_run(session, settings, business_id)
    if rerun_of is None and dead is not None and (dead.parameters or {}) == parameters:
        rerun_of = dead  # the same sync, cut short by a lost worker: carry on from its checkpoint
    yield_sweep(session, business_id)  # a run busy with its sweep (its own pages done) steps aside for this one
    if active_sync_run(session, business_id) is not None:
        raise already_running(session, business_id)
    try:
        run = create_sync_run(
            session,
            business_id=business_id,
            mailbox_id=mailbox_id,
            mode=parameters["mode"],
            trigger=trigger,
            parameters=parameters,
            rerun_of=rerun_of,
        )
    except SyncAlreadyRunning as exc:
        raise already_running(session, business_id, exc) from None
    name = get_business(session, business_id).name
    request = FlowRunRequest(
        deployment=settings.sync_deployment,
        parameters={**(run.parameters or {}), "business_id": run.business_id, "sync_run_id": run.id},
        name=sync_run_name(run.business_id, name, run.mode, bool(parameters.get("reprocess_failed"))),
        tags=[*business_tags(run.business_id, name), "gmail-sync", *(["rerun"] if run.rerun_of_id else [])],
        # Incremental syncs have a queue of their own, served first: large first syncs cannot starve them.
        work_queue=settings.incremental_work_queue if run.mode == "incremental" else None,
    )
    start_flow_run(session, settings, run, request)
    return run


def rerun(session: Session, settings: Settings, old: SyncRun) -> SyncRun:
    """A new run of a failed/cancelled/stale one with its parameters and checkpoint (so it resumes).

    A stale run (its process is gone) is failed first by the trigger's own dead-run check.
    """
    if old.status not in RERUNNABLE and not stale_reason_for(settings, old):
        raise RunStateConflict(f"only failed or cancelled runs can be rerun; run {old.id} is {old.status}")
    parameters: SyncParameters = {**(old.parameters or {"mode": old.mode})}
    parameters.setdefault("mode", old.mode)
    return request_sync(
        session, settings, business_id=old.business_id, parameters=parameters, trigger="rerun", rerun_of=old
    )


def cancel_sync_run(session: Session, settings: Settings, run: SyncRun) -> SyncRun:
    """Ask Prefect to cancel the flow run, then mark the record cancelled (503 if Prefect cannot be asked)."""
    if run.status not in ACTIVE_STATUSES:
        raise RunStateConflict(f"run {run.id} is already {run.status}")
    if run.flow_run_id:
        prefect_access.cancel_flow_run(settings, run.flow_run_id)
    finish_run(session, run, "cancelled", "cancelled through the API")
    session.flush()
    return run


def stale_reason_for(settings: Settings, run: SyncRun) -> str | None:
    return stale_reason(run, **stale_thresholds(settings))
