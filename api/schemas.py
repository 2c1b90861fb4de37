"""Request and response bodies of the HTTP API (SPEC §6). Inputs are bounded so bad input is a 422, not a 500."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.middleware import redact_infrastructure
from models.deletion import DeletionSelector, ReceiptFilter
from models.queries.deletions import MAX_IDS as MAX_DELETION_IDS
from models.queries.deletions import DeletionSummary, deletion_summary
from models.receipt import ReceiptCorrections
from models.runs import SyncParameters, SyncRun
from receipt_sync.jsontypes import JsonObject
from services.deletion_requests import DeletionView
from services.job_health import JobHealth
from services.message_errors import run_message_errors
from services.prefect_access import WorkerConfig
from services.runs import error_preview
from services.sync_requests import RunView, SyncProgress

MAX_ID = 2**63 - 1
SyncMode = Literal["incremental", "full", "range"]
ReviewStatus = Literal["new", "needs_review", "reviewed", "rejected"]
FIRST_ERRORS = 5
RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; refuse them at the edge."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


CleanText = Annotated[str, AfterValidator(_no_nul)]
VendorText = Annotated[CleanText, Field(max_length=300)]
DocumentNumberText = Annotated[CleanText, Field(max_length=100)]
SearchText = Annotated[CleanText, Field(max_length=200)]
CursorText = Annotated[CleanText, Field(max_length=500)]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class ErrorBody(BaseModel):
    """Every 4xx/5xx: a stable machine code, a message for people, and optional details."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_id: Id | None = Field(default=None, description="Required for system_admin tokens only.")
    mode: SyncMode = "incremental"
    from_date: date | None = None
    to_date: date | None = None
    months_back: int = Field(default=36, ge=1, le=240)
    max_messages: int | None = Field(default=None, ge=1, le=10_000_000)
    reprocess_failed: bool = Field(
        default=False, description="Also fetch and analyse again the messages that failed in earlier syncs."
    )

    @model_validator(mode="after")
    def _window(self) -> SyncRequest:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("from_date must not be after to_date")
        if self.mode == "range" and not (self.from_date and self.to_date):
            raise ValueError("mode 'range' needs from_date and to_date")
        return self

    def flow_parameters(self) -> SyncParameters:
        """The flow's parameters (ids and plain values only; dates as ISO strings)."""
        return {
            "mode": self.mode,
            "from_date": self.from_date.isoformat() if self.from_date else None,
            "to_date": self.to_date.isoformat() if self.to_date else None,
            "months_back": self.months_back,
            "max_messages": self.max_messages,
            **({"reprocess_failed": True} if self.reprocess_failed else {}),
        }


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_id: Id | None = Field(default=None, description="Required for system_admin tokens only.")
    months_back: int = Field(default=36, ge=1, le=240, description="How far back the pass over the mailbox reaches.")


class MessageErrorPublic(BaseModel):
    """A message that failed in a run: its id in the mailbox and why (never its content)."""

    message_id: str
    error: str
    kind: Literal["transient", "permanent", "damaged"] = Field(
        description="transient: later syncs try it again; permanent: only reprocessing does; damaged: what could "
        "be read was stored anyway."
    )


class RunErrorList(BaseModel):
    run_id: int
    errors_count: int = Field(description="How many message errors the run had.")
    items: list[MessageErrorPublic] = Field(description="The first 200 of them.")


class FailedMessagePublic(BaseModel):
    id: int
    business_id: int
    message_id: str
    error: str
    kind: Literal["transient", "permanent"]
    attempts: int
    retried_by_later_syncs: bool
    sync_run_id: int | None = Field(description="The run that last tried it.")
    failed_at: datetime


class FailedMessageList(BaseModel):
    items: list[FailedMessagePublic]
    next_before_id: int | None = Field(description="Pass as before_id for the next page; null on the last page.")


class PrefectState(BaseModel):
    type: str
    name: str
    message: str | None = None


class SyncRunPublic(BaseModel):
    id: int
    business_id: int
    mode: str
    status: RunStatus
    trigger: str
    rerun_of_id: int | None
    flow_run_id: str | None
    parameters: JsonObject | None  # the run's stored parameters, as they are
    pages_done: int
    messages_scanned: int
    receipts_saved: int
    duplicates_skipped: int
    errors_count: int
    messages_estimated: int | None
    messages_fetched: int
    mailbox_messages: int | None
    quota_units: int
    sweep_status: Literal["pending", "running", "yielded", "done", "off"] | None = Field(
        description="The sweep after the receipt query's messages: running; yielded (stopped for a sync someone "
        "asked for, a later sync resumes it); done (nothing of the mailbox left unread); off (switched off for "
        "the business); null: this run did not get to it."
    )
    sweep_messages_scanned: int = Field(description="Messages the sweep looked at in this run (most skipped unread).")
    sweep_messages_fetched: int = Field(description="Messages the sweep read in this run.")
    sweep_receipts_saved: int = Field(description="Receipts the sweep found (also counted in receipts_saved).")
    first_errors: list[MessageErrorPublic] = Field(description="The run's first message errors (up to 5).")
    percent: float
    heartbeat_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    duration_seconds: float | None
    error_message: str | None = Field(description="First 500 characters.")
    stale: bool
    stale_reason: str | None
    prefect_state: PrefectState | None
    prefect_error: str | None = Field(description="Why the Prefect state could not be read, if it could not.")
    prefect_ui_url: str | None

    @classmethod
    def from_view(cls, view: RunView) -> SyncRunPublic:
        run = view.run
        duration = None
        if run.started_at:
            duration = ((run.finished_at or run.heartbeat_at or run.started_at) - run.started_at).total_seconds()
        state = view.prefect_state
        return cls.model_validate(
            {
                **{c: getattr(run, c) for c in cls.model_fields if hasattr(SyncRun, c)},
                "error_message": error_preview(run.error_message),
                "first_errors": run_message_errors(run)[:FIRST_ERRORS],
                "duration_seconds": duration,
                "stale": view.stale_reason is not None,
                "stale_reason": view.stale_reason,
                "prefect_state": PrefectState(type=state.type, name=state.name, message=state.message)
                if state
                else None,
                "prefect_error": redact_infrastructure(view.prefect_error) if view.prefect_error else None,
                "prefect_ui_url": view.ui_url,
            }
        )


class SweepPublic(BaseModel):
    """A business's sweep: after the receipt query's messages, syncs read the rest of the mailbox."""

    business_id: int
    enabled: bool
    state: Literal["off", "not_started", "in_progress", "done"]
    window_after: datetime | None = Field(description="The window being walked, while a walk is pending.")
    window_before: datetime | None
    messages_listed: int = Field(description="Messages of the window the walk has gone past.")
    messages_estimated: int | None = Field(description="The mailbox's size when the walk started.")
    percent: float | None
    deferred_messages: int = Field(description="New mail the receipt query did not match, read first.")
    completed_at: datetime | None = Field(description="When a walk of the mailbox last finished.")
    last_run_id: int | None
    last_run_sweep_status: str | None


class SweepUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_id: Id | None = Field(default=None, description="Required for system_admin tokens only.")
    enabled: bool = Field(description="false: only what the receipt query lists is read (fewer Gmail units).")


class SyncRunList(BaseModel):
    items: list[SyncRunPublic]


class DocumentPublic(BaseModel):
    id: int
    kind: str
    filename: str | None
    content_type: str
    size_bytes: int
    download_url: str


class ReceiptPublic(BaseModel):
    id: int
    business_id: int
    source_message_id: str
    subject: str | None
    sender: str | None
    received_at: datetime | None
    vendor: str | None
    total: Decimal | None
    currency: str | None
    receipt_date: date | None
    document_number: str | None
    is_credit_note: bool
    confidence: float
    status: str
    corrected_fields: JsonObject | None  # {field: {extracted, corrected}}, as stored
    created_at: datetime


class ReceiptDetail(ReceiptPublic):
    reasons: list[str] | None
    documents: list[DocumentPublic]


class ReceiptList(BaseModel):
    items: list[ReceiptPublic]
    next_cursor: str | None


class ReceiptUpdate(BaseModel):
    """Review status and corrected fields; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    status: ReviewStatus | None = None
    vendor: VendorText | None = None
    total: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    receipt_date: date | None = None
    document_number: DocumentNumberText | None = None

    def corrections(self) -> ReceiptCorrections:
        fields = self.model_fields_set - {"status"}
        values = ReceiptCorrections(**{name: getattr(self, name) for name in fields})  # type: ignore[typeddict-item]
        if values.get("currency"):
            values["currency"] = (values["currency"] or "").upper()
        return values


class CurrencyTotal(BaseModel):
    currency: str | None
    count: int
    total: str | None


class MonthTotal(CurrencyTotal):
    month: str


class ReceiptStats(BaseModel):
    by_status: dict[str, int]
    by_currency: list[CurrencyTotal]
    by_month: list[MonthTotal]


class DeletionFilter(BaseModel):
    """The receipts list endpoint's filters."""

    model_config = ConfigDict(extra="forbid")

    status: ReviewStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    vendor: VendorText | None = None
    currency: Annotated[str | None, Field(pattern=r"^[A-Za-z]{3}$")] = None
    text: SearchText | None = None

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
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_DELETION_IDS)] | None = None
    filter: DeletionFilter | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> DeletionRequest:
        if [self.all is True, self.ids is not None, self.filter is not None].count(True) != 1:
            raise ValueError('give exactly one of "all": true, "ids": [...] or "filter": {...}')
        return self

    def selector(self) -> DeletionSelector:
        if self.all:
            return {"all": True}
        if self.ids is not None:
            return {"ids": self.ids}
        assert self.filter is not None
        return {"filter": cast(ReceiptFilter, self.filter.model_dump(mode="json", exclude_none=True))}


class DeletionFailurePublic(BaseModel):
    receipt_id: int
    storage_key: str
    attempts: int


class DeletionRunPublic(DeletionSummary):
    error_message: str | None = Field(description="First 500 characters.")
    stale: bool
    failures: list[DeletionFailurePublic] = Field(description="Documents storage refused (first 100).")
    prefect_ui_url: str | None

    @classmethod
    def from_view(cls, view: DeletionView) -> DeletionRunPublic:
        failures = [
            DeletionFailurePublic(receipt_id=f.receipt_id, storage_key=f.storage_key, attempts=f.attempts)
            for f in view.failures
        ]
        return cls(
            **{**deletion_summary(view.run).as_dict(), "error_message": error_preview(view.run.error_message)},
            stale=view.stale_reason is not None,
            failures=failures,
            prefect_ui_url=view.ui_url,
        )


class WorkPoolPublic(BaseModel):
    name: str
    status: str | None  # READY / NOT_READY / PAUSED; None: no such pool
    exists: bool


class QueuePublic(BaseModel):
    name: str
    paused: bool


class WorkerPublic(BaseModel):
    name: str
    status: str
    last_heartbeat_at: datetime | None


class WorkerConfigPublic(BaseModel):
    work_pool: WorkPoolPublic
    queues: list[QueuePublic]
    deployments: list[str]
    workers: list[WorkerPublic]
    online_workers: int

    @classmethod
    def of(cls, config: WorkerConfig) -> WorkerConfigPublic:
        pool = config.pool
        return cls(
            work_pool=WorkPoolPublic(name=pool.name, status=pool.status, exists=config.pool_exists),
            queues=[QueuePublic(name=q.name, paused=q.paused) for q in config.queues],
            deployments=config.deployments,
            workers=[WorkerPublic.model_validate(w, from_attributes=True) for w in pool.workers],
            online_workers=len(pool.online_workers),
        )


class JobHealthPublic(BaseModel):
    """Whether jobs can run; the Prefect details (set only for admins) are left out of a member's answer."""

    ok: bool
    database: Literal["ok", "unreachable"]
    prefect_api: Literal["ok", "unreachable"]
    prefect_error: str | None = None
    action: str | None = None
    work_pool: WorkPoolPublic | None = None
    queues: list[QueuePublic] | None = None
    deployments: list[str] | None = None
    workers: list[WorkerPublic] | None = None
    online_workers: int | None = None

    @classmethod
    def of(cls, health: JobHealth, *, admin: bool) -> JobHealthPublic:
        """Only the fields the caller may see are set: routes answer with `response_model_exclude_unset`."""
        seen = cls(
            ok=health.ok,
            database="ok" if health.database_ok else "unreachable",
            prefect_api="ok" if health.config else "unreachable",
        )
        if not admin:
            return seen
        if health.config is None:
            return seen.model_copy(update={"prefect_error": health.prefect_error, "action": health.action})
        return seen.model_copy(update=dict(WorkerConfigPublic.of(health.config)))


class ActiveRunPublic(BaseModel):
    business_id: int
    id: int
    status: RunStatus
    percent: float | None
    pages_done: int
    messages_scanned: int
    receipts_saved: int
    heartbeat_at: str | None
    flow_run_id: str | None
    sweep_status: str | None = Field(default=None, description="running: only sweeping (a new sync makes it yield).")
    stale_reason: str | None

    @classmethod
    def of(cls, run: SyncRun, stale_reason: str | None) -> ActiveRunPublic:
        return cls(business_id=run.business_id, stale_reason=stale_reason, **asdict(SyncProgress.of(run)))


class DiagnosticsPublic(JobHealthPublic):
    active_runs: list[ActiveRunPublic]
    critical: list[str]
