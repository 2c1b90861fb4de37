"""Failed messages: listing a run's or a business's, and asking for them to be fetched and analysed again.

A run lists the messages that failed in it (`sync_run.message_errors`, the first 200 with the count beside);
the business's list is the processed-message ledger's failed entries, each with its reason, whether later syncs
retry it (a transient failure with attempts left) and the run that last tried it. Reprocessing is a `gmail-sync`
run with `reprocess_failed`, through the deployment like any other sync (409 / 503 as usual).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from models.ledger import MAX_TRANSIENT_ATTEMPTS, ProcessedMessage
from models.queries.message_errors import failed_messages
from models.runs import MessageErrorEntry, SyncParameters, SyncRun
from receipt_sync.settings import Settings
from services.sync_requests import request_sync


@dataclass(frozen=True)
class FailedMessage:
    id: int
    business_id: int
    message_id: str
    error: str
    kind: str  # transient | permanent
    attempts: int
    retried_by_later_syncs: bool
    sync_run_id: int | None
    failed_at: datetime


def _failed(row: ProcessedMessage) -> FailedMessage:
    transient = row.outcome == "retry"
    return FailedMessage(
        id=row.id,
        business_id=row.business_id,
        message_id=row.message_id,
        error=row.error or "",
        kind="transient" if transient else "permanent",
        attempts=row.attempts,
        retried_by_later_syncs=transient and row.attempts < MAX_TRANSIENT_ATTEMPTS,
        sync_run_id=row.sync_run_id,
        failed_at=row.processed_at,
    )


def business_failed_messages(
    session: Session, business_id: int | None, *, before_id: int | None, limit: int
) -> list[FailedMessage]:
    """The business's messages that are failed now (newest first); None: every business's (admins)."""
    return [_failed(row) for row in failed_messages(session, business_id, before_id=before_id, limit=limit)]


def run_message_errors(run: SyncRun) -> list[MessageErrorEntry]:
    """The messages that failed in `run` (the first 200; `errors_count` says how many there were)."""
    return [
        MessageErrorEntry(message_id=e["message_id"], error=e["error"], kind=e.get("kind", "permanent"))
        for e in run.message_errors or []
    ]


def reprocess_parameters(months_back: int) -> SyncParameters:
    """A full pass of the window that fetches failed messages again and skips what was stored."""
    return {
        "mode": "full",
        "from_date": None,
        "to_date": None,
        "months_back": months_back,
        "max_messages": None,
        "reprocess_failed": True,
    }


def request_reprocess(
    session: Session, settings: Settings, *, business_id: int, months_back: int = 36, trigger: str = "api"
) -> SyncRun:
    """Queue a sync that reprocesses the business's failed messages (409 when a sync is active, 503: no worker)."""
    return request_sync(
        session, settings, business_id=business_id, parameters=reprocess_parameters(months_back), trigger=trigger
    )
