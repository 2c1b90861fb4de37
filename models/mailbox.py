"""A business's connected mailbox: where mail comes from and how far the last sync got."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow

MAILBOX_STATUSES = ("active", "needs_reauth", "disconnected")


class MailboxConnection(Base):
    """`provider` is `gmail` (refresh token, encrypted) or `mbox` (a Takeout file; `address` is its path)."""

    __tablename__ = "mailbox_connection"
    __table_args__ = (UniqueConstraint("business_id", "provider", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(1000))
    encrypted_refresh_token: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # {"history_id": "...", "synced_at": "..."} — where an incremental sync starts.
    sync_checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The incremental round's last `getProfile` probe: when, the history id it saw, and why it failed.
    last_probed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_probed_history_id: Mapped[str | None] = mapped_column(String(64))
    last_probe_error: Mapped[str | None] = mapped_column(Text)
    # The sweep's place: {"after", "before", "page_token", "listed", "estimate", "started_at"} of the window
    # it walks (None: no walk pending), and when the last walk finished.
    sweep_cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sweep_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
