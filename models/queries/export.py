"""A business's receipts as plain rows, in the field names of the `extract --json` contract (SPEC §8)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.receipt import Receipt


def export_row(receipt: Receipt) -> dict[str, Any]:
    return {
        "id": receipt.id,
        "source_message_id": receipt.source_message_id,
        "received_at": receipt.received_at.isoformat() if receipt.received_at else None,
        "subject": receipt.subject,
        "sender": receipt.sender,
        "status": receipt.status,
        "is_receipt": receipt.status != "needs_review",
        "confidence": receipt.confidence,
        "vendor": receipt.vendor,
        "total": str(receipt.total) if receipt.total is not None else None,
        "currency": receipt.currency,
        "date": receipt.receipt_date.isoformat() if receipt.receipt_date else None,
        "document_number": receipt.document_number,
        "reasons": receipt.reasons or [],
    }


def export_rows(session: Session, business_id: int, since: date | None = None) -> list[dict[str, Any]]:
    """Oldest first, so a spreadsheet reads in date order."""
    stmt = select(Receipt).where(Receipt.business_id == business_id)
    if since:
        stmt = stmt.where(Receipt.receipt_date >= since)
    stmt = stmt.order_by(Receipt.receipt_date.asc().nulls_last(), Receipt.id)
    return [export_row(r) for r in session.scalars(stmt)]
