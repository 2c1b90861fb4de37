"""A business's failed messages as the processed-message ledger holds them: listed for people, retried by syncs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.ledger import FAILED_OUTCOMES, MAX_TRANSIENT_ATTEMPTS, ProcessedMessage


def failed_messages(
    session: Session, business_id: int | None, *, before_id: int | None = None, limit: int = 50
) -> list[ProcessedMessage]:
    """Failed messages newest first (one business, or all with None), keyset-paged by `before_id`."""
    pm = ProcessedMessage
    stmt = select(pm).where(pm.outcome.in_(FAILED_OUTCOMES)).order_by(pm.id.desc()).limit(limit)
    if business_id is not None:
        stmt = stmt.where(pm.business_id == business_id)
    if before_id is not None:
        stmt = stmt.where(pm.id < before_id)
    return list(session.scalars(stmt))


def count_failed_messages(session: Session, business_id: int) -> int:
    pm = ProcessedMessage
    stmt = select(func.count()).where(pm.business_id == business_id, pm.outcome.in_(FAILED_OUTCOMES))
    return session.scalar(stmt) or 0


def retryable_message_ids(session: Session, business_id: int, limit: int) -> list[str]:
    """Messages that failed for a transient reason and have attempts left, oldest failure first."""
    pm = ProcessedMessage
    stmt = (
        select(pm.message_id)
        .where(pm.business_id == business_id, pm.outcome == "retry", pm.attempts < MAX_TRANSIENT_ATTEMPTS)
        .order_by(pm.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
