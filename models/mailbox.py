"""A business's connected mailbox: where mail comes from and how far the last sync got."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow

MAILBOX_STATUSES = ("active", "needs_reauth", "disconnected")


class MailboxCheckpoint(TypedDict, total=False):
    """Where the mailbox's next incremental sync starts (its `sync_checkpoint`)."""

    history_id: str  # Gmail's history id the last completed sync read
    history_at: str  # when it was read (ISO): the receipt query's listing of new mail starts a margin before


class WalkCursor(TypedDict, total=False):
    """The sweep's place in the window it walks (the mailbox's `sweep_cursor`)."""

    after: str | None  # the window `[after, before)`, ISO times
    before: str
    page_token: str | None  # the next page of the walk; None: its first
    listed: int  # messages listed so far
    estimate: int | None  # the mailbox's size when the walk began
    started_at: str


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
    sync_checkpoint: Mapped[MailboxCheckpoint | None] = mapped_column(JSON)  # where an incremental sync starts
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The incremental round's last `getProfile` probe: when, the history id it saw, and why it failed.
    last_probed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_probed_history_id: Mapped[str | None] = mapped_column(String(64))
    last_probe_error: Mapped[str | None] = mapped_column(Text)
    # The sweep's place in the window it walks (None: no walk pending), and when the last walk finished.
    sweep_cursor: Mapped[WalkCursor | None] = mapped_column(JSON)
    sweep_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
