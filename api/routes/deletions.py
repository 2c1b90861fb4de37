"""Receipt deletions: start one (through the `receipt-deletion` deployment), follow it, pause, resume, cancel.

Pause and cancel only change the run record: the flow checks it before every batch, so either takes effect
within one batch without killing a batch halfway. Resume queues the run again and starts a new flow run,
which continues from the cursor. A deletion and a sync of one business never run together (409 both ways).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from api.deps import CallerDep, SessionDep, SettingsDep
from api.responses import CONFLICT, ERRORS, SYNC_TRIGGER_ERRORS
from api.schemas import Id, ReviewStatus, bounded_str
from models.deletion import DeletionRun
from models.queries import deletions as q
from services import deletion_requests as deletions
from services.runs import error_preview

router = APIRouter(prefix="/api/receipts/deletions", tags=["deletions"], responses=ERRORS)


class DeletionFilter(BaseModel):
    """The receipts list endpoint's filters."""

    model_config = ConfigDict(extra="forbid")

    status: ReviewStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    vendor: bounded_str(300) | None = None
    currency: Annotated[str | None, Field(pattern=r"^[A-Za-z]{3}$")] = None
    text: bounded_str(200) | None = None

    @model_validator(mode="after")
    def _something(self) -> DeletionFilter:
        if not self.model_dump(exclude_none=True):
            raise ValueError("a filter needs at least one field")
        return self


class DeletionRequest(BaseModel):
    """Exactly one of `all`, `ids`, `filter`."""

    model_config = ConfigDict(extra="forbid")

    business_id: Id | None = Field(default=None, description="Required for system_admin tokens only.")
    all: bool | None = None
    ids: Annotated[list[Id], Field(min_length=1, max_length=q.MAX_IDS)] | None = None
    filter: DeletionFilter | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> DeletionRequest:
        if [self.all is True, self.ids is not None, self.filter is not None].count(True) != 1:
            raise ValueError('give exactly one of "all": true, "ids": [...] or "filter": {...}')
        return self

    def selector(self) -> dict[str, Any]:
        if self.all:
            return {"all": True}
        if self.ids is not None:
            return {"ids": self.ids}
        assert self.filter is not None
        return {"filter": self.filter.model_dump(mode="json", exclude_none=True)}


class DeletionFailurePublic(BaseModel):
    receipt_id: int
    storage_key: str
    attempts: int


class DeletionRunPublic(BaseModel):
    id: int
    business_id: int
    status: str
    selector: dict[str, Any]
    total: int
    processed: int
    succeeded: int
    failed_count: int
    attachments_deleted: int
    attachments_failed: int
    percent: float
    cursor: int | None
    flow_run_id: str | None
    error_message: str | None = Field(description="First 500 characters.")
    heartbeat_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    stale: bool
    failures: list[DeletionFailurePublic] = Field(description="Documents storage refused (first 100).")
    prefect_ui_url: str | None


def _public(view: deletions.DeletionView) -> DeletionRunPublic:
    summary = q.deletion_summary(view.run)
    failures = [
        DeletionFailurePublic(receipt_id=f.receipt_id, storage_key=f.storage_key, attempts=f.attempts)
        for f in view.failures
    ]
    return DeletionRunPublic(
        **{**summary, "error_message": error_preview(view.run.error_message)},
        stale=view.stale_reason is not None,
        failures=failures,
        prefect_ui_url=view.ui_url,
    )


def _visible_run(session: Session, caller: CallerDep, run_id: int) -> DeletionRun:
    """Another business's run is a 404."""
    return q.get_deletion_run(session, run_id, business_id=caller.business_scope(None), for_update=True)


@router.post("", status_code=202, response_model=DeletionRunPublic, responses={**SYNC_TRIGGER_ERRORS})
def start_deletion(
    body: DeletionRequest, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> DeletionRunPublic:
    """Delete all, listed or matching receipts with their documents (409 while a sync or deletion is active)."""
    business_id = caller.acting_business(session, body.business_id)
    run = deletions.request_deletion(session, settings, business_id=business_id, selector=body.selector())
    return _public(deletions.report(session, settings, run))


@router.get("/{run_id}", response_model=DeletionRunPublic)
def get_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """A deletion run's counters, cursor, heartbeat and the documents storage refused."""
    return _public(deletions.report(session, settings, _visible_run(session, caller, run_id)))


@router.post("/{run_id}/pause", response_model=DeletionRunPublic, responses=CONFLICT)
def pause_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """Stop after the current batch; resume continues from the cursor."""
    run = deletions.pause(session, _visible_run(session, caller, run_id))
    return _public(deletions.report(session, settings, run))


@router.post("/{run_id}/resume", status_code=202, response_model=DeletionRunPublic, responses=SYNC_TRIGGER_ERRORS)
def resume_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """Continue a paused (or failed) deletion from its cursor in a new flow run."""
    run = deletions.resume(session, settings, _visible_run(session, caller, run_id))
    return _public(deletions.report(session, settings, run))


@router.post("/{run_id}/cancel", response_model=DeletionRunPublic, responses=CONFLICT)
def cancel_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """Stop for good within one batch; what was deleted stays deleted."""
    run = deletions.cancel(session, settings, _visible_run(session, caller, run_id))
    return _public(deletions.report(session, settings, run))
