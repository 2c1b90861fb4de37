"""A business's receipts as plain rows, in the field names of the `extract --json` contract (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.receipt import Receipt


@dataclass(frozen=True)
class ExportRow:
    """One receipt as an accountant's spreadsheet row; the field order is the CSV's column order."""

    id: int
    source_message_id: str
    received_at: str | None  # ISO 8601
    subject: str | None
    sender: str | None
    status: str
    is_receipt: bool
    confidence: float | None
    vendor: str | None
    total: str | None  # the decimal as text: no float rounding
    currency: str | None
    date: str | None  # YYYY-MM-DD
    document_number: str | None
    reasons: list[str]

    @classmethod
    def of(cls, receipt: Receipt) -> ExportRow:
        return cls(
            id=receipt.id,
            source_message_id=receipt.source_message_id,
            received_at=receipt.received_at.isoformat() if receipt.received_at else None,
            subject=receipt.subject,
            sender=receipt.sender,
            status=receipt.status,
            is_receipt=receipt.status != "needs_review",
            confidence=receipt.confidence,
            vendor=receipt.vendor,
            total=str(receipt.total) if receipt.total is not None else None,
            currency=receipt.currency,
            date=receipt.receipt_date.isoformat() if receipt.receipt_date else None,
            document_number=receipt.document_number,
            reasons=receipt.reasons or [],
        )


def export_rows(session: Session, business_id: int, since: date | None = None) -> list[ExportRow]:
    """Oldest first, so a spreadsheet reads in date order."""
    stmt = select(Receipt).where(Receipt.business_id == business_id)
    if since:
        stmt = stmt.where(Receipt.receipt_date >= since)
    stmt = stmt.order_by(Receipt.receipt_date.asc().nulls_last(), Receipt.id)
    return [ExportRow.of(r) for r in session.scalars(stmt)]
