"""The processed-message ledger: every message a sync has looked at, so no later sync fetches it again.

Receipts alone cannot tell a second sync what to skip, because non-receipts are not stored as receipts.
A message that failed is in the ledger too, with its reason: `error` (it will fail again the same way: later
syncs skip it until someone asks to reprocess failed messages) or `retry` (a transient failure: a fetch that
failed, an analysis that ran out of time; later syncs try it again, up to `MAX_TRANSIENT_ATTEMPTS` times).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow

OUTCOMES = ("receipt", "needs_review", "not_receipt", "error", "retry", "deferred")
FAILED_OUTCOMES = ("error", "retry")
MAX_TRANSIENT_ATTEMPTS = 3
# Seen but not read yet: new mail the receipt query did not match, left to the sweep (not processed).
DEFERRED = "deferred"
_FAILED_SQL = text("outcome IN ('error', 'retry')")
_DEFERRED_SQL = text("outcome = 'deferred'")


class ProcessedMessage(Base):
    __tablename__ = "processed_message"
    __table_args__ = (
        UniqueConstraint("business_id", "message_id"),
        # A business's failed messages, newest first, without reading its (much larger) successful rows.
        Index(
            "ix_processed_message_failed", "business_id", "id", postgresql_where=_FAILED_SQL, sqlite_where=_FAILED_SQL
        ),
        # The sweep's backlog of a business, oldest first.
        Index(
            "ix_processed_message_deferred",
            "business_id",
            "id",
            postgresql_where=_DEFERRED_SQL,
            sqlite_where=_DEFERRED_SQL,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"), index=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
