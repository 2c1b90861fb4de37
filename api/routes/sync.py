"""Sync runs: trigger, status (ours and Prefect's), history, rerun, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CallerDep, SessionDep, SettingsDep
from api.responses import ERRORS, SYNC_TRIGGER_ERRORS
from api.schemas import Id, PrefectState, SyncRequest, SyncRunList, SyncRunPublic
from models.queries.sync_runs import get_sync_run
from models.runs import SyncRun
from receipt_sync.errors import NotFoundError
from receipt_sync.settings import Settings
from services import prefect_access
from services import sync_requests as sync_service
from services.runs import error_preview

router = APIRouter(prefix="/api/receipts/sync", tags=["sync"], responses=ERRORS)
BusinessQuery = Annotated[Id | None, Query(description="Required for system_admin tokens.")]


def to_public(view: sync_service.RunView) -> SyncRunPublic:
    run = view.run
    duration = None
    if run.started_at:
        duration = ((run.finished_at or run.heartbeat_at or run.started_at) - run.started_at).total_seconds()
    state = view.prefect_state
    return SyncRunPublic.model_validate(
        {
            **{c: getattr(run, c) for c in SyncRunPublic.model_fields if hasattr(SyncRun, c)},
            "error_message": error_preview(run.error_message),
            "duration_seconds": duration,
            "stale": view.stale_reason is not None,
            "stale_reason": view.stale_reason,
            "prefect_state": PrefectState(type=state.type, name=state.name, message=state.message) if state else None,
            "prefect_error": view.prefect_error,
            "prefect_ui_url": view.ui_url,
        }
    )


def _visible_run(session: Session, caller: CallerDep, run_id: int) -> SyncRun:
    run = get_sync_run(session, run_id)
    scope = caller.business_scope(None)
    if scope is not None and run.business_id != scope:
        raise NotFoundError(f"sync run {run_id} not found")
    return run


def _report(session: Session, settings: Settings, run: SyncRun) -> SyncRunPublic:
    return to_public(sync_service.reconcile(session, settings, run))


@router.post("", status_code=202, response_model=SyncRunPublic, responses=SYNC_TRIGGER_ERRORS)
def trigger_sync(body: SyncRequest, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> SyncRunPublic:
    """Start a sync of the business through its Prefect deployment (409 if one is active, 503 if no worker)."""
    business_id = caller.acting_business(session, body.business_id)
    run = sync_service.request_sync(session, settings, business_id=business_id, parameters=body.flow_parameters())
    return _report(session, settings, run)


@router.get("/latest", response_model=SyncRunPublic)
def latest_sync(
    session: SessionDep, caller: CallerDep, settings: SettingsDep, business_id: BusinessQuery = None
) -> SyncRunPublic:
    """The business's most recent sync run with counters, staleness and the Prefect state."""
    scope = caller.acting_business(session, business_id)
    stmt = select(SyncRun).where(SyncRun.business_id == scope).order_by(SyncRun.id.desc()).limit(1)
    run = session.scalars(stmt).first()
    if run is None:
        raise NotFoundError(f"business {scope} has no sync runs yet")
    return _report(session, settings, run)


@router.get("/runs", response_model=SyncRunList)
def list_sync_runs(
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    business_id: BusinessQuery = None,
    before_id: Annotated[Id | None, Query(description="Keyset cursor: runs older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SyncRunList:
    """Sync history, newest first (Prefect states are read only for the runs still active)."""
    scope = caller.business_scope(business_id)
    stmt = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
    if scope is not None:
        stmt = stmt.where(SyncRun.business_id == scope)
    if before_id is not None:
        stmt = stmt.where(SyncRun.id < before_id)
    views = [_history_view(session, settings, run) for run in session.scalars(stmt)]
    return SyncRunList(items=[to_public(v) for v in views])


def _history_view(session: Session, settings: Settings, run: SyncRun) -> sync_service.RunView:
    if run.status in ("queued", "running"):
        return sync_service.reconcile(session, settings, run)
    ui_url = prefect_access.flow_run_ui_url(settings, run.flow_run_id)
    return sync_service.RunView(run, None, None, None, ui_url)


@router.get("/runs/{run_id}", response_model=SyncRunPublic)
def get_run(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> SyncRunPublic:
    """One sync run with counters, staleness and the Prefect state."""
    return _report(session, settings, _visible_run(session, caller, run_id))


@router.post("/runs/{run_id}/rerun", status_code=202, response_model=SyncRunPublic, responses=SYNC_TRIGGER_ERRORS)
def rerun_sync(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> SyncRunPublic:
    """Rerun a failed or cancelled run as a new run that resumes from its checkpoint."""
    old = _visible_run(session, caller, run_id)
    run = sync_service.rerun(session, settings, old)
    return _report(session, settings, run)


@router.post("/runs/{run_id}/cancel", response_model=SyncRunPublic)
def cancel_sync(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> SyncRunPublic:
    """Cancel a queued or running run (its Prefect flow run goes to Cancelling)."""
    run = sync_service.cancel(session, settings, _visible_run(session, caller, run_id))
    return _report(session, settings, run)
