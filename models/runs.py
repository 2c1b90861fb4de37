"""Run records: what the product UI reads to know where a sync is, independent of Prefect's own state."""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired, TypedDict

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow
from receipt_sync.jsontypes import JsonObject

RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
# pending: after the query phase; running; yielded: stopped for a sync someone asked for, a later run resumes it;
# done: nothing of the window left unread; off: switched off for the business.
SWEEP_STATUSES = ("pending", "running", "yielded", "done", "off")
_ACTIVE_SQL = text("status IN ('queued', 'running')")


class SyncParameters(TypedDict, total=False):
    """A sync's parameters as its run record stores them and the `gmail-sync` flow takes them (besides the ids)."""

    mode: str  # "incremental" | "full" | "range"
    from_date: str | None  # ISO dates, both inclusive (range)
    to_date: str | None
    months_back: int
    max_messages: int | None
    reprocess_failed: bool  # present (true) only when asked for


class MessageErrorEntry(TypedDict):
    """A failed message as its run lists it (`message_errors`): id, reason and kind, never its content."""

    message_id: str
    error: str
    kind: NotRequired[str]  # transient | permanent | damaged; an entry without it (older runs) is permanent


class SyncCheckpoint(TypedDict, total=False):
    """Where a rerun resumes (the run's `checkpoint`): the next page and the history id the run started from."""

    cursor: JsonObject | None  # tasks/cursor.py's MailboxCursor as JSON; None: nothing left to list
    history_id: str | None


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (
        # At most one queued-or-running sync per business, enforced by the database itself.
        Index(
            "uq_sync_run_one_active_per_business",
            "business_id",
            unique=True,
            postgresql_where=_ACTIVE_SQL,
            sqlite_where=_ACTIVE_SQL,
        ),
        Index("ix_sync_run_business_created", "business_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox_connection.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    trigger: Mapped[str] = mapped_column(String(20), default="cli")  # api | cli | schedule | rerun | prefect
    rerun_of_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"), index=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    parameters: Mapped[SyncParameters | None] = mapped_column(JSON)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    messages_scanned: Mapped[int] = mapped_column(Integer, default=0)
    receipts_saved: Mapped[int] = mapped_column(Integer, default=0)
    duplicates_skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors_count: Mapped[int] = mapped_column(Integer, default=0)
    messages_estimated: Mapped[int | None] = mapped_column(Integer)
    # What the summary reports beside the counters: messages fetched from the mailbox (the rest were skipped
    # before fetching), the mailbox's size as Gmail's profile gives it, and the Gmail quota units spent.
    messages_fetched: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    mailbox_messages: Mapped[int | None] = mapped_column(Integer)
    quota_units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    # The sweep after the receipt query (SWEEP_STATUSES; None: this run does not sweep) and what it did in this
    # run; its receipts and errors are also in the run's totals.
    sweep_status: Mapped[str | None] = mapped_column(String(20))
    sweep_messages_scanned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sweep_messages_fetched: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sweep_receipts_saved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    checkpoint: Mapped[SyncCheckpoint | None] = mapped_column(JSON)  # where a rerun resumes
    error_message: Mapped[str | None] = mapped_column(Text)
    message_errors: Mapped[list[MessageErrorEntry] | None] = mapped_column(JSON)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process that opened the run (receipt_sync/process_identity.py): seen gone at once on its machine.
    process: Mapped[str | None] = mapped_column(String(160))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
