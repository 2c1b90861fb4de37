"""Receipt queries for the API: filtered keyset-paginated lists, detail, review updates and stats.

Every function takes `business_id` (None only for operators looking across businesses) so tenant scoping is
part of each query, not a check done afterwards. The list is ordered newest mail first
(`received_at DESC NULLS FIRST, id DESC`), which is the backward order of the index
`(business_id, received_at, id)`, so a deep page costs the same as the first.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from models.receipt import RECEIPT_STATUSES, CorrectedField, Receipt, ReceiptCorrections, ReceiptDocument
from receipt_sync.errors import InvalidRequest, NotFoundError

CORRECTABLE_FIELDS = ("vendor", "total", "currency", "receipt_date", "document_number")


@dataclass(frozen=True)
class ReceiptFilter:
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    vendor: str | None = None
    currency: str | None = None
    text: str | None = None


_MAX_ID = 2**63 - 1  # BIGINT


@dataclass(frozen=True)
class Cursor:
    received_at: datetime | None
    id: int

    def encode(self) -> str:
        raw = json.dumps({"r": self.received_at.isoformat() if self.received_at else None, "i": self.id})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Strictly what `encode` writes: anything else (Infinity, 1e400, a 23-digit id, a list) is a 400."""
        try:
            data = json.loads(base64.urlsafe_b64decode(value[:200] + "=" * (-len(value[:200]) % 4)))
            if not isinstance(data, dict) or set(data) != {"r", "i"}:
                raise ValueError
            received, row_id = data["r"], data["i"]
            if (
                type(row_id) is not int
                or not 0 < row_id <= _MAX_ID
                or not (received is None or isinstance(received, str))
            ):
                raise ValueError
            when = datetime.fromisoformat(received) if received else None
            return cls(received_at=when if when is None or when.tzinfo else when.replace(tzinfo=UTC), id=row_id)
        except (ValueError, KeyError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise InvalidRequest("cursor is not one this API returned") from None


@dataclass(frozen=True)
class ReceiptPage:
    items: list[Receipt]
    next_cursor: str | None


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filter_conditions(f: ReceiptFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.status:
        conds.append(Receipt.status == f.status)
    if f.date_from:
        conds.append(Receipt.receipt_date >= f.date_from)
    if f.date_to:
        conds.append(Receipt.receipt_date <= f.date_to)
    if f.vendor:
        conds.append(Receipt.vendor.ilike(_like(f.vendor), escape="\\"))
    if f.currency:
        conds.append(Receipt.currency == f.currency.upper())
    if f.text:
        pattern = _like(f.text)
        columns = (Receipt.subject, Receipt.vendor, Receipt.sender, Receipt.document_number)
        conds.append(or_(*(c.ilike(pattern, escape="\\") for c in columns)))
    return conds


def _after(cursor: Cursor) -> ColumnElement[bool]:
    """Rows that come after `cursor` in `received_at DESC NULLS FIRST, id DESC` order."""
    if cursor.received_at is None:
        return or_(and_(Receipt.received_at.is_(None), Receipt.id < cursor.id), Receipt.received_at.isnot(None))
    return tuple_(Receipt.received_at, Receipt.id) < tuple_(literal(cursor.received_at), literal(cursor.id))


def scoped(stmt: Select[Any], business_id: int | None) -> Select[Any]:
    return stmt if business_id is None else stmt.where(Receipt.business_id == business_id)


def list_receipts(
    session: Session,
    business_id: int | None,
    filters: ReceiptFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> ReceiptPage:
    """One page of receipts and the cursor of the next page (None on the last page)."""
    stmt = scoped(select(Receipt), business_id).where(*_filter_conditions(filters))
    if cursor:
        stmt = stmt.where(_after(Cursor.decode(cursor)))
    stmt = stmt.order_by(Receipt.received_at.desc().nulls_first(), Receipt.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    if len(rows) <= limit:
        return ReceiptPage(items=rows, next_cursor=None)
    last = rows[limit - 1]
    return ReceiptPage(items=rows[:limit], next_cursor=Cursor(last.received_at, last.id).encode())


def get_receipt(session: Session, business_id: int | None, receipt_id: int) -> Receipt:
    """The receipt, or `NotFoundError` when it does not exist *or belongs to another business*."""
    receipt = session.scalars(scoped(select(Receipt), business_id).where(Receipt.id == receipt_id)).first()
    if receipt is None:
        raise NotFoundError(f"receipt {receipt_id} not found")
    return receipt


def receipt_documents(session: Session, receipt: Receipt) -> list[ReceiptDocument]:
    stmt = select(ReceiptDocument).where(ReceiptDocument.receipt_id == receipt.id).order_by(ReceiptDocument.id)
    return list(session.scalars(stmt))


def get_document(session: Session, receipt: Receipt, document_id: int) -> ReceiptDocument:
    doc = session.scalars(
        select(ReceiptDocument).where(
            ReceiptDocument.id == document_id,
            ReceiptDocument.receipt_id == receipt.id,
            ReceiptDocument.business_id == receipt.business_id,
        )
    ).first()
    if doc is None:
        raise NotFoundError(f"document {document_id} not found")
    return doc


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def update_review(
    session: Session, receipt: Receipt, *, status: str | None, corrections: ReceiptCorrections
) -> Receipt:
    """Set the review status and apply corrected fields, remembering each field's extracted value."""
    if status is not None:
        if status not in RECEIPT_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(RECEIPT_STATUSES)}")
        receipt.status = status
    unknown = set(corrections) - set(CORRECTABLE_FIELDS)
    if unknown:
        raise InvalidRequest(f"fields that cannot be corrected: {', '.join(sorted(unknown))}")
    history: dict[str, CorrectedField] = dict(receipt.corrected_fields or {})
    for name, value in corrections.items():
        earlier = history.get(name)
        extracted = earlier["extracted"] if earlier else _json_value(getattr(receipt, name))
        setattr(receipt, name, value)
        history[name] = {"extracted": extracted, "corrected": _json_value(value)}
    receipt.corrected_fields = history
    session.flush()
    return receipt


def _month(session: Session) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(Receipt.receipt_date, "YYYY-MM")
    return func.strftime("%Y-%m", Receipt.receipt_date)


@dataclass(frozen=True)
class CurrencyCount:
    currency: str | None
    count: int
    total: str | None  # a decimal sum as text, so no float rounding reaches the client


@dataclass(frozen=True)
class MonthCount(CurrencyCount):
    month: str  # YYYY-MM


@dataclass(frozen=True)
class ReceiptCounts:
    by_status: dict[str, int]
    by_currency: list[CurrencyCount]
    by_month: list[MonthCount]


def _text(total: Decimal | None) -> str | None:
    return str(total) if total is not None else None


def receipt_stats(session: Session, business_id: int | None) -> ReceiptCounts:
    """Counts by review status, totals by currency, and counts/totals by month and currency."""
    by_status = session.execute(scoped(select(Receipt.status, func.count()), business_id).group_by(Receipt.status))
    currency = func.coalesce(Receipt.currency, "")
    by_currency = session.execute(
        scoped(select(currency, func.count(), func.sum(Receipt.total)), business_id).group_by(currency)
    )
    month = _month(session)
    by_month = session.execute(
        scoped(select(month, currency, func.count(), func.sum(Receipt.total)), business_id)
        .where(Receipt.receipt_date.isnot(None))
        .group_by(month, currency)
        .order_by(month.desc(), currency)
    )
    return ReceiptCounts(
        by_status={status: count for status, count in by_status},
        by_currency=[CurrencyCount(c or None, n, _text(t)) for c, n, t in by_currency],
        by_month=[MonthCount(c or None, n, _text(t), month=m) for m, c, n, t in by_month],
    )


def receipts_by_message_id(session: Session, business_id: int) -> dict[str, Receipt]:
    """Every receipt of the business, keyed by the id its mail source gave the message."""
    rows = session.scalars(select(Receipt).where(Receipt.business_id == business_id))
    return {r.source_message_id: r for r in rows}
