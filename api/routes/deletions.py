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
from deployments import prefect_api
from deployments import sync_requests as sync_service
from models.deletion import DeletionRun
from models.queries import deletions as q
from models.queries.sync_runs import stale_reason
from receipt_sync.errors import DeletionAlreadyRunning, NotFoundError
from receipt_sync.settings import Settings

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


def _public(session: Session, settings: Settings, run: DeletionRun) -> DeletionRunPublic:
    summary = q.deletion_summary(run)
    failures = [
        DeletionFailurePublic(receipt_id=f.receipt_id, storage_key=f.storage_key, attempts=f.attempts)
        for f in q.failures_of(session, run.id)
    ]
    return DeletionRunPublic(
        **{**summary, "error_message": sync_service.error_preview(run.error_message)},
        stale=stale_reason(run, **sync_service.stale_thresholds(settings)) is not None,  # type: ignore[arg-type]
        failures=failures,
        prefect_ui_url=prefect_api.flow_run_ui_url(settings, run.flow_run_id),
    )


def _visible_run(session: Session, caller: CallerDep, run_id: int) -> DeletionRun:
    """Another business's run is a 404."""
    run = q.get_deletion_run(session, run_id, for_update=True)
    scope = caller.business_scope(None)
    if scope is not None and run.business_id != scope:
        raise NotFoundError(f"deletion run {run_id} not found")
    return run


def _clear_dead_deletion(session: Session, settings: Settings, business_id: int) -> None:
    """A queued/running deletion without a heartbeat for too long (worker lost) must not block forever."""
    active = q.active_deletion_run(session, business_id)
    reason = active and stale_reason(active, **sync_service.stale_thresholds(settings))  # type: ignore[arg-type]
    if active is not None and reason:
        q.finish_deletion_run(session, active, "failed", f"stale: {reason}")
        sync_service.cancel_quietly(settings, active.flow_run_id)
        session.commit()


def _conflict(session: Session, exc: DeletionAlreadyRunning, business_id: int) -> DeletionAlreadyRunning:
    """A 409 carrying the active deletion's progress, so the UI can show it instead of an error."""
    active = q.active_deletion_run(session, business_id)
    summary = q.deletion_summary(active) if active else None
    exc.details = {"run": _jsonable(summary)} if summary else {}  # type: ignore[attr-defined]
    return exc


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in summary.items()}


def _start_flow_run(session: Session, settings: Settings, run: DeletionRun) -> None:
    """Trigger the deployment and commit; on any failure (503: no worker) nothing is left queued."""
    try:
        triggered = prefect_api.trigger_deployment(
            settings,
            settings.deletion_deployment,
            parameters={"business_id": run.business_id, "deletion_run_id": run.id},
            name=f"receipt-deletion/business-{run.business_id}/run-{run.id}",
            tags=[f"business:{run.business_id}", "receipt-deletion"],
        )
        run.flow_run_id = triggered.flow_run_id
        session.commit()
    except BaseException:
        session.rollback()
        raise


@router.post("", status_code=202, response_model=DeletionRunPublic, responses={**SYNC_TRIGGER_ERRORS})
def start_deletion(
    body: DeletionRequest, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> DeletionRunPublic:
    """Delete all, listed or matching receipts with their documents (409 while a sync or deletion is active)."""
    business_id = caller.acting_business(session, body.business_id)
    sync_service.clear_dead_run(session, settings, business_id)
    _clear_dead_deletion(session, settings, business_id)
    try:
        run = q.create_deletion_run(session, business_id=business_id, selector=body.selector())
    except DeletionAlreadyRunning as exc:
        raise _conflict(session, exc, business_id) from None
    _start_flow_run(session, settings, run)
    return _public(session, settings, run)


@router.get("/{run_id}", response_model=DeletionRunPublic)
def get_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """A deletion run's counters, cursor, heartbeat and the documents storage refused."""
    return _public(session, settings, _visible_run(session, caller, run_id))


@router.post("/{run_id}/pause", response_model=DeletionRunPublic, responses=CONFLICT)
def pause_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """Stop after the current batch; resume continues from the cursor."""
    run = _visible_run(session, caller, run_id)
    q.pause_deletion_run(session, run)
    return _public(session, settings, run)


@router.post("/{run_id}/resume", status_code=202, response_model=DeletionRunPublic, responses=SYNC_TRIGGER_ERRORS)
def resume_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """Continue a paused (or failed) deletion from its cursor in a new flow run."""
    run = _visible_run(session, caller, run_id)
    sync_service.clear_dead_run(session, settings, run.business_id)
    try:
        q.resume_deletion_run(session, run)
    except DeletionAlreadyRunning as exc:
        raise _conflict(session, exc, run.business_id) from None
    _start_flow_run(session, settings, run)
    return _public(session, settings, run)


@router.post("/{run_id}/cancel", response_model=DeletionRunPublic, responses=CONFLICT)
def cancel_deletion(run_id: Id, session: SessionDep, caller: CallerDep, settings: SettingsDep) -> DeletionRunPublic:
    """Stop for good within one batch; what was deleted stays deleted."""
    run = _visible_run(session, caller, run_id)
    was_queued = run.status == "queued"
    q.cancel_deletion_run(session, run)
    if was_queued:  # it never started: spare the worker the run
        sync_service.cancel_quietly(settings, run.flow_run_id)
    return _public(session, settings, run)
