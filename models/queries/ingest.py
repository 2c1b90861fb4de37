"""Storing what a sync found: the processed-message ledger and receipts with their documents.

Inserts use ON CONFLICT DO NOTHING, so a page processed twice (a retry, a rerun, a second sync) stores
nothing twice, without a read-then-write race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.ledger import ProcessedMessage
from models.receipt import Receipt, ReceiptDocument


def _insert(session: Session, table: Any) -> Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def already_processed(session: Session, business_id: int, message_ids: Sequence[str]) -> set[str]:
    if not message_ids:
        return set()
    rows = session.scalars(
        select(ProcessedMessage.message_id).where(
            ProcessedMessage.business_id == business_id, ProcessedMessage.message_id.in_(list(message_ids))
        )
    )
    return set(rows)


def record_processed(session: Session, business_id: int, outcomes: Iterable[tuple[str, str, str | None]]) -> None:
    """Ledger rows `(message_id, outcome, error)`; a message already in the ledger keeps its first entry."""
    values = [
        {"business_id": business_id, "message_id": mid, "outcome": outcome, "error": error}
        for mid, outcome, error in outcomes
    ]
    if values:
        stmt = _insert(session, ProcessedMessage).values(values)
        session.execute(stmt.on_conflict_do_nothing(index_elements=["business_id", "message_id"]))


def insert_receipt(session: Session, values: dict[str, Any], documents: Sequence[dict[str, Any]]) -> int | None:
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
