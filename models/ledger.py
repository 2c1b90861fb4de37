"""The processed-message ledger: every message a sync has looked at, so no later sync fetches it again.

Receipts alone cannot tell a second sync what to skip, because non-receipts are not stored as receipts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow

OUTCOMES = ("receipt", "not_receipt", "error")


class ProcessedMessage(Base):
    __tablename__ = "processed_message"
    __table_args__ = (UniqueConstraint("business_id", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
