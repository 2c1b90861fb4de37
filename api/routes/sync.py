"""Sync runs: trigger, status (ours and Prefect's), history, rerun, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CallerDep, SessionDep, SettingsDep, VisibleSyncRun
from api.responses import CONFLICT, ERRORS, SYNC_TRIGGER_ERRORS, UNAVAILABLE
from api.schemas import (
    FailedMessageList,
    FailedMessagePublic,
    Id,
    ReprocessRequest,
    RunErrorList,
    SweepPublic,
    SweepUpdate,
    SyncRequest,
    SyncRunList,
    SyncRunPublic,
)
from models.queries import sync_runs as q
from receipt_sync.errors import NotFoundError
from services import message_errors as errors_service
from services import sweep as sweep_service
from services import sync_requests as sync_service

router = APIRouter(prefix="/api/receipts/sync", tags=["sync"], responses=ERRORS)
BusinessQuery = Annotated[Id | None, Query(description="Required for system_admin tokens.")]


@router.post("", status_code=202, response_model=SyncRunPublic, responses=SYNC_TRIGGER_ERRORS)
def trigger_sync(body: SyncRequest, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> SyncRunPublic:
    """Start a sync of the business through its Prefect deployment (409 if one is active, 503 if no worker)."""
    business_id = caller.acting_business(session, body.business_id)
    run = sync_service.request_sync(session, settings, business_id=business_id, parameters=body.flow_parameters())
    return SyncRunPublic.from_view(sync_service.reconcile(session, settings, run))


@router.get("/latest", response_model=SyncRunPublic)
def latest_sync(
    session: SessionDep, caller: CallerDep, settings: SettingsDep, business_id: BusinessQuery = None
) -> SyncRunPublic:
    """The business's most recent sync run with counters, staleness and the Prefect state."""
    scope = caller.acting_business(session, business_id)
    run = q.latest_sync_run(session, scope)
    if run is None:
        raise NotFoundError(f"business {scope} has no sync runs yet")
    return SyncRunPublic.from_view(sync_service.reconcile(session, settings, run))


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
    runs = q.list_sync_runs(session, caller.business_scope(business_id), before_id=before_id, limit=limit)
    return SyncRunList(
        items=[SyncRunPublic.from_view(sync_service.history_view(session, settings, run)) for run in runs]
    )


@router.get("/runs/{run_id}", response_model=SyncRunPublic)
def get_run(run: VisibleSyncRun, session: SessionDep, settings: SettingsDep) -> SyncRunPublic:
    """One sync run with counters, staleness and the Prefect state."""
    return SyncRunPublic.from_view(sync_service.reconcile(session, settings, run))


@router.post("/runs/{run_id}/rerun", status_code=202, response_model=SyncRunPublic, responses=SYNC_TRIGGER_ERRORS)
def rerun_sync(old: VisibleSyncRun, session: SessionDep, settings: SettingsDep) -> SyncRunPublic:
    """Rerun a failed or cancelled run as a new run that resumes from its checkpoint."""
    run = sync_service.rerun(session, settings, old)
    return SyncRunPublic.from_view(sync_service.reconcile(session, settings, run))


@router.post("/runs/{run_id}/cancel", response_model=SyncRunPublic, responses={**CONFLICT, **UNAVAILABLE})
def cancel_sync(run: VisibleSyncRun, session: SessionDep, settings: SettingsDep) -> SyncRunPublic:
    """Cancel a queued or running run (its Prefect flow run goes to Cancelling)."""
    run = sync_service.cancel_sync_run(session, settings, run)
    return SyncRunPublic.from_view(sync_service.reconcile(session, settings, run))


@router.get("/runs/{run_id}/errors", response_model=RunErrorList)
def list_run_errors(run: VisibleSyncRun) -> RunErrorList:
    """The messages that failed in one run, with their reasons (ids and reasons only, never content)."""
    items = errors_service.run_message_errors(run)
    return RunErrorList.model_validate({"run_id": run.id, "errors_count": run.errors_count, "items": items})


@router.get("/errors", response_model=FailedMessageList)
def list_failed_messages(
    session: SessionDep,
    caller: CallerDep,
    business_id: BusinessQuery = None,
    before_id: Annotated[Id | None, Query(description="Keyset cursor: failures older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FailedMessageList:
    """The business's messages that are failed now, newest first: reason, kind, attempts, whether syncs retry it."""
    scope = caller.business_scope(business_id)
    rows = errors_service.business_failed_messages(session, scope, before_id=before_id, limit=limit)
    items = [FailedMessagePublic.model_validate(row, from_attributes=True) for row in rows]
    return FailedMessageList(items=items, next_before_id=items[-1].id if len(items) == limit else None)


@router.post("/reprocess-errors", status_code=202, response_model=SyncRunPublic, responses=SYNC_TRIGGER_ERRORS)
def reprocess_failed_messages(
    body: ReprocessRequest, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> SyncRunPublic:
    """Queue a sync that fetches and analyses the business's failed messages again (409 / 503 like a sync)."""
    business_id = caller.acting_business(session, body.business_id)
    run = errors_service.request_reprocess(session, settings, business_id=business_id, months_back=body.months_back)
    return SyncRunPublic.from_view(sync_service.reconcile(session, settings, run))


@router.get("/sweep", response_model=SweepPublic)
def get_sweep(session: SessionDep, caller: CallerDep, business_id: BusinessQuery = None) -> SweepPublic:
    """The business's sweep (the mail the receipt query does not list): on or off, how far it has read."""
    scope = caller.acting_business(session, business_id)
    return SweepPublic.model_validate(sweep_service.sweep_state(session, scope).as_dict())


@router.put("/sweep", response_model=SweepPublic)
def set_sweep(body: SweepUpdate, session: SessionDep, caller: CallerDep) -> SweepPublic:
    """Switch the business's sweep on or off (off: only what the receipt query lists is ever read)."""
    scope = caller.acting_business(session, body.business_id)
    return SweepPublic.model_validate(sweep_service.switch_sweep(session, scope, body.enabled).as_dict())
