"""Request and response bodies of the HTTP API (SPEC §6). Inputs are bounded so bad input is a 422, not a 500."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_ID = 2**63 - 1
SyncMode = Literal["incremental", "full", "range"]
ReviewStatus = Literal["new", "needs_review", "reviewed", "rejected"]
RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; refuse them at the edge."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def bounded_str(max_length: int) -> Any:
    return Annotated[str, Field(max_length=max_length), AfterValidator(_no_nul)]


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

    @model_validator(mode="after")
    def _window(self) -> SyncRequest:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("from_date must not be after to_date")
        if self.mode == "range" and not (self.from_date and self.to_date):
            raise ValueError("mode 'range' needs from_date and to_date")
        return self

    def flow_parameters(self) -> dict[str, Any]:
        """The flow's parameters (ids and plain values only; dates as ISO strings)."""
        return {
            "mode": self.mode,
            "from_date": self.from_date.isoformat() if self.from_date else None,
            "to_date": self.to_date.isoformat() if self.to_date else None,
            "months_back": self.months_back,
            "max_messages": self.max_messages,
        }


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
    parameters: dict[str, Any] | None
    pages_done: int
    messages_scanned: int
    receipts_saved: int
    duplicates_skipped: int
    errors_count: int
    messages_estimated: int | None
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
    corrected_fields: dict[str, Any] | None
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
    vendor: bounded_str(300) | None = None
    total: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    receipt_date: date | None = None
    document_number: bounded_str(100) | None = None

    def corrections(self) -> dict[str, Any]:
        fields = self.model_fields_set - {"status"}
        values = {name: getattr(self, name) for name in fields}
        if values.get("currency"):
            values["currency"] = values["currency"].upper()
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
