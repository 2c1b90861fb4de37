"""Receipts found in mail and the documents (attachments or rendered bodies) stored for them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TypedDict

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow

RECEIPT_STATUSES = ("new", "needs_review", "reviewed", "rejected")  # needs_review: a borderline candidate


class NewReceipt(TypedDict):
    """A receipt's columns as a sync page inserts them (models/queries/ingest.py)."""

    business_id: int
    mailbox_id: int
    source_message_id: str
    thread_id: str | None
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
    reasons: list[str]
    status: str
    sync_run_id: int


class NewDocument(TypedDict):
    """A stored document's columns as a sync page inserts them, before its receipt's id is known."""

    kind: str
    filename: str | None
    content_type: str
    content_hash: str
    storage_key: str
    size_bytes: int


class ReceiptCorrections(TypedDict, total=False):
    """The fields a review corrects (only those sent); `update_review` refuses any other."""

    vendor: str | None
    total: Decimal | None
    currency: str | None
    receipt_date: date | None
    document_number: str | None


class CorrectedField(TypedDict):
    """A corrected field as `corrected_fields` remembers it, both values as JSON (dates ISO, amounts strings)."""

    extracted: object
    corrected: object


class Receipt(Base):
    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("business_id", "source_message_id"),
        Index("ix_receipt_business_date", "business_id", "receipt_date", "id"),
        Index("ix_receipt_business_status", "business_id", "status", "id"),
        Index("ix_receipt_business_received", "business_id", "received_at", "id"),
        # Covering index for the stats endpoint's index-only scans (migration 0003).
        Index(
            "ix_receipt_business_stats",
            "business_id",
            postgresql_include=["status", "currency", "total", "receipt_date"],
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox_connection.id", ondelete="SET NULL"))
    source_message_id: Mapped[str] = mapped_column(String(255))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vendor: Mapped[str | None] = mapped_column(String(300))
    total: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    receipt_date: Mapped[date | None] = mapped_column(Date)
    document_number: Mapped[str | None] = mapped_column(String(100))
    is_credit_note: Mapped[bool] = mapped_column(default=False)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="new")
    corrected_fields: Mapped[dict[str, CorrectedField] | None] = mapped_column(JSON)
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReceiptDocument(Base):
    """Storage keys come from the business and the content hash, so equal content is stored once."""

    __tablename__ = "receipt_document"
    __table_args__ = (
        UniqueConstraint("receipt_id", "content_hash"),
        Index("ix_receipt_document_business_hash", "business_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id", ondelete="CASCADE"), index=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # attachment | body
    filename: Mapped[str | None] = mapped_column(String(500))  # display only, never a path
    content_type: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
