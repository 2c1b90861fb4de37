"""Starting, reporting, pausing, resuming and cancelling receipt deletions (the `receipt-deletion` deployment).

Pause and cancel only change the run record: the flow checks it before every batch, so either takes effect
within one batch without killing a batch halfway. Resume queues the run again and starts a new flow run,
which continues from the cursor. A deletion and a sync of one business never run together (409 both ways).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.deletion import DeletionFailure, DeletionRun, DeletionSelector
from models.queries import deletions as q
from models.queries.sync_runs import stale_reason, stale_thresholds
from receipt_sync.errors import DeletionAlreadyRunning
from receipt_sync.settings import Settings
from services import prefect_access
from services.prefect_access import FlowRunRequest
from services.reconcile import DELETION, reconcile_business
from services.runs import cancel_quietly, start_flow_run
from services.sync_requests import clear_dead_run


@dataclass
class DeletionView:
    """A deletion run with what the report adds: the documents storage refused, staleness, the Prefect link."""

    run: DeletionRun
    failures: list[DeletionFailure]
    stale_reason: str | None
    ui_url: str | None


def report(session: Session, settings: Settings, run: DeletionRun) -> DeletionView:
    """The run as the API shows it."""
    reason = stale_reason(run, **stale_thresholds(settings))
    ui_url = prefect_access.flow_run_ui_url(settings, run.flow_run_id)
    return DeletionView(run, q.failures_of(session, run.id), reason, ui_url)


def _clear_dead_deletion(session: Session, settings: Settings, business_id: int) -> None:
    """A queued/running deletion whose process is gone (services/reconcile.py) must not block forever: it is failed,
    its flow run set Crashed (not cancelled: nobody is left to acknowledge a cancellation) and its slot freed."""
    active = q.active_deletion_run(session, business_id)
    if active is not None and reconcile_business(session, settings, active, DELETION):
        session.commit()


def _conflict(session: Session, exc: DeletionAlreadyRunning, business_id: int) -> DeletionAlreadyRunning:
    """A 409 carrying the active deletion's progress, so the UI can show it instead of an error."""
    active = q.active_deletion_run(session, business_id)
    exc.details = {"run": q.deletion_summary(active).as_json()} if active else {}  # type: ignore[attr-defined]
    return exc


def _start(session: Session, settings: Settings, run: DeletionRun) -> None:
    request = FlowRunRequest(
        deployment=settings.deletion_deployment,
        parameters={"business_id": run.business_id, "deletion_run_id": run.id},
        name=f"receipt-deletion/business-{run.business_id}/run-{run.id}",
        tags=[f"business:{run.business_id}", "receipt-deletion"],
    )
    start_flow_run(session, settings, run, request)


def request_deletion(
    session: Session, settings: Settings, *, business_id: int, selector: DeletionSelector
) -> DeletionRun:
    """Create the queued run and its flow run, or refuse (409 while a sync or deletion is active, 503)."""
    clear_dead_run(session, settings, business_id)
    _clear_dead_deletion(session, settings, business_id)
    try:
        run = q.create_deletion_run(session, business_id=business_id, selector=selector)
    except DeletionAlreadyRunning as exc:
        raise _conflict(session, exc, business_id) from None
    _start(session, settings, run)
    return run


def pause(session: Session, run: DeletionRun) -> DeletionRun:
    """Stop after the current batch; resume continues from the cursor."""
    q.pause_deletion_run(session, run)
    return run


def resume(session: Session, settings: Settings, run: DeletionRun) -> DeletionRun:
    """Continue a paused (or failed) deletion from its cursor in a new flow run."""
    clear_dead_run(session, settings, run.business_id)
    try:
        q.resume_deletion_run(session, run)
    except DeletionAlreadyRunning as exc:
        raise _conflict(session, exc, run.business_id) from None
    _start(session, settings, run)
    return run


def cancel(session: Session, settings: Settings, run: DeletionRun) -> DeletionRun:
    """Stop for good within one batch; what was deleted stays deleted."""
    was_queued = run.status == "queued"
    q.cancel_deletion_run(session, run)
    if was_queued:  # it never started: spare the worker the run
        cancel_quietly(settings, run.flow_run_id)
    return run
