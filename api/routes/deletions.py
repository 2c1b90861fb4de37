"""Receipt deletions: start one (through the `receipt-deletion` deployment), follow it, pause, resume, cancel.

The use cases are in services/deletion_requests.py; these routes translate HTTP to them and back.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CallerDep, SessionDep, SettingsDep, VisibleDeletionRun
from api.responses import CONFLICT, ERRORS, SYNC_TRIGGER_ERRORS
from api.schemas import DeletionRequest, DeletionRunPublic
from services import deletion_requests as deletions

router = APIRouter(prefix="/api/receipts/deletions", tags=["deletions"], responses=ERRORS)


@router.post("", status_code=202, response_model=DeletionRunPublic, responses={**SYNC_TRIGGER_ERRORS})
def start_deletion(
    body: DeletionRequest, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> DeletionRunPublic:
    """Delete all, listed or matching receipts with their documents (409 while a sync or deletion is active)."""
    business_id = caller.acting_business(session, body.business_id)
    run = deletions.request_deletion(session, settings, business_id=business_id, selector=body.selector())
    return DeletionRunPublic.from_view(deletions.report(session, settings, run))


@router.get("/{run_id}", response_model=DeletionRunPublic)
def get_deletion(run: VisibleDeletionRun, session: SessionDep, settings: SettingsDep) -> DeletionRunPublic:
    """A deletion run's counters, cursor, heartbeat and the documents storage refused."""
    return DeletionRunPublic.from_view(deletions.report(session, settings, run))


@router.post("/{run_id}/pause", response_model=DeletionRunPublic, responses=CONFLICT)
def pause_deletion(run: VisibleDeletionRun, session: SessionDep, settings: SettingsDep) -> DeletionRunPublic:
    """Stop after the current batch; resume continues from the cursor."""
    deletions.pause(session, run)
    return DeletionRunPublic.from_view(deletions.report(session, settings, run))


@router.post("/{run_id}/resume", status_code=202, response_model=DeletionRunPublic, responses=SYNC_TRIGGER_ERRORS)
def resume_deletion(run: VisibleDeletionRun, session: SessionDep, settings: SettingsDep) -> DeletionRunPublic:
    """Continue a paused (or failed) deletion from its cursor in a new flow run."""
    deletions.resume(session, settings, run)
    return DeletionRunPublic.from_view(deletions.report(session, settings, run))


@router.post("/{run_id}/cancel", response_model=DeletionRunPublic, responses=CONFLICT)
def cancel_deletion(run: VisibleDeletionRun, session: SessionDep, settings: SettingsDep) -> DeletionRunPublic:
    """Stop for good within one batch; what was deleted stays deleted."""
    deletions.cancel(session, settings, run)
    return DeletionRunPublic.from_view(deletions.report(session, settings, run))
