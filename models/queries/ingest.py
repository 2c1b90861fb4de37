"""Storing what a sync found: the processed-message ledger and receipts with their documents.

Inserts use ON CONFLICT DO NOTHING, so a page processed twice (a retry, a rerun, a second sync) stores
nothing twice, without a read-then-write race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.base import utcnow
from models.ledger import DEFERRED, FAILED_OUTCOMES, MAX_TRANSIENT_ATTEMPTS, ProcessedMessage
from models.receipt import NewDocument, NewReceipt, Receipt, ReceiptDocument


def _insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def already_processed(
    session: Session, business_id: int, message_ids: Sequence[str], *, retry_failed: bool = False
) -> set[str]:
    """The ids a sync skips: every ledger entry but transient failures with attempts left and messages left to
    the sweep (`deferred`, seen but never read); with `retry_failed` (reprocessing failed messages), failed
    messages are not skipped either."""
    if not message_ids:
        return set()
    pm = ProcessedMessage
    retryable = and_(pm.outcome == "retry", pm.attempts < MAX_TRANSIENT_ATTEMPTS)
    still_to_do = (pm.outcome.in_(FAILED_OUTCOMES) if retry_failed else retryable) | (pm.outcome == DEFERRED)
    rows = session.scalars(
        select(pm.message_id).where(pm.business_id == business_id, pm.message_id.in_(list(message_ids)), ~still_to_do)
    )
    return set(rows)


def record_processed(
    session: Session,
    business_id: int,
    outcomes: Iterable[tuple[str, str, str | None]],
    sync_run_id: int | None = None,
) -> None:
    """Ledger rows `(message_id, outcome, error)`. A message already in the ledger keeps its entry, unless
    that entry is a failure (this attempt's outcome replaces it and its attempts are counted) or a message
    left to the sweep (replaced, its first attempt)."""
    now = utcnow()
    values = [
        {
            "business_id": business_id,
            "message_id": mid,
            "outcome": outcome,
            "error": error,
            "sync_run_id": sync_run_id,
            "processed_at": now,
        }
        for mid, outcome, error in outcomes
    ]
    if not values:
        return
    stmt = _insert(session, ProcessedMessage).values(values)
    pm = ProcessedMessage.__table__.c
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["business_id", "message_id"],
            set_={
                "outcome": stmt.excluded.outcome,
                "error": stmt.excluded.error,
                "sync_run_id": stmt.excluded.sync_run_id,
                "attempts": case((pm.outcome == DEFERRED, 1), else_=pm.attempts + 1),
                "processed_at": stmt.excluded.processed_at,
            },
            where=pm.outcome.in_((*FAILED_OUTCOMES, DEFERRED)),
        )
    )


def defer_messages(session: Session, business_id: int, message_ids: Sequence[str], sync_run_id: int | None) -> int:
    """Leave messages to the sweep (seen, not read): new mail the receipt query did not match. A message
    already in the ledger keeps its entry. Returns how many were deferred."""
    if not message_ids:
        return 0
    now = utcnow()
    values = [
        {"business_id": business_id, "message_id": mid, "outcome": DEFERRED, "sync_run_id": sync_run_id,
         "processed_at": now}
        for mid in dict.fromkeys(message_ids)
    ]  # fmt: skip
    stmt = _insert(session, ProcessedMessage).values(values).on_conflict_do_nothing()
    return len(session.execute(stmt.returning(ProcessedMessage.id)).all())


def insert_receipt(session: Session, values: NewReceipt, documents: Sequence[NewDocument]) -> int | None:
    """Insert a receipt and its documents; None when the message's receipt was already stored."""
    stmt = _insert(session, Receipt).values(values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["business_id", "source_message_id"])
    receipt_id = session.execute(stmt.returning(Receipt.id)).scalar()
    if receipt_id is None:
        return None
    rows = [{**doc, "receipt_id": receipt_id, "business_id": values["business_id"]} for doc in documents]
    if rows:
        doc_stmt = _insert(session, ReceiptDocument).values(rows)
        session.execute(doc_stmt.on_conflict_do_nothing(index_elements=["receipt_id", "content_hash"]))
    return receipt_id
