"""Deletion run records: what the product UI reads to follow (and pause, resume or cancel) a bulk deletion.

A run deletes receipts of one business chosen by a selector (`{"all": true}`, `{"ids": [...]}` or
`{"filter": {...}}`) in id order; `cursor` is the last receipt id handled, so a rerun continues after it.
Documents that storage would not delete are kept in `deletion_failure` rows, one per (receipt, key), until
a retry deletes them: they are reported, never counted as deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column
from typing_extensions import TypedDict  # pydantic validates it (DeletionSummary): typing's is refused on 3.11

from models.base import Base, BigId, UTCDateTime, utcnow

DELETION_STATUSES = ("queued", "running", "paused", "completed", "failed", "cancelled")
ACTIVE_DELETION_STATUSES = ("queued", "running", "paused")
_ACTIVE_SQL = text("status IN ('queued', 'running', 'paused')")


class ReceiptFilter(TypedDict, total=False):
    """A deletion's filter as stored: the fields given, as strings (dates ISO)."""

    status: str
    vendor: str
    currency: str
    date_from: str
    date_to: str
    text: str


class DeletionSelector(TypedDict, total=False):
    """Which receipts a deletion removes, as its run stores it: exactly one of `{"all": true}`, `{"ids": [...]}`
    or `{"filter": {...}}` (models/queries/deletions.py `normalize_selector` makes sure)."""

    all: bool
    ids: list[int]
    filter: ReceiptFilter


class DeletionRun(Base):
    __tablename__ = "deletion_run"
    __table_args__ = (
        # At most one unfinished deletion per business, enforced by the database itself.
        Index(
            "uq_deletion_run_one_active_per_business",
            "business_id",
            unique=True,
            postgresql_where=_ACTIVE_SQL,
            sqlite_where=_ACTIVE_SQL,
        ),
        Index("ix_deletion_run_business_created", "business_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    selector: Mapped[DeletionSelector] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    attachments_deleted: Mapped[int] = mapped_column(Integer, default=0)
    attachments_failed: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[int | None] = mapped_column(BigInteger)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process that claimed the run (receipt_sync/process_identity.py): seen gone at once on its machine.
    process: Mapped[str | None] = mapped_column(String(160))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DeletionFailure(Base):
    """A document whose object storage would not delete; its receipt is kept until a retry succeeds."""

    __tablename__ = "deletion_failure"
    __table_args__ = (UniqueConstraint("deletion_run_id", "receipt_id", "storage_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deletion_run_id: Mapped[int] = mapped_column(ForeignKey("deletion_run.id", ondelete="CASCADE"))
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id", ondelete="CASCADE"), index=True)
    storage_key: Mapped[str] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
