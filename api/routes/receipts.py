"""Receipts: filtered list with keyset pagination, stats, detail, review update, document download."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from api.deps import CallerDep, SessionDep, SettingsDep, VisibleReceipt
from api.responses import ERRORS, UNAVAILABLE
from api.schemas import (
    CursorText,
    DocumentPublic,
    Id,
    ReceiptDetail,
    ReceiptList,
    ReceiptPublic,
    ReceiptStats,
    ReceiptUpdate,
    ReviewStatus,
    SearchText,
    VendorText,
)
from models.queries import receipts as q
from models.receipt import Receipt, ReceiptDocument
from receipt_sync.mime import clean_media_type
from receipt_sync.storage import open_storage

# What a stored document is served as (receipt_sync.mime keeps PDFs, images and HTML bodies).
DOCUMENT_TYPES = ("application/pdf", "image/*", "text/html", "application/octet-stream")

router = APIRouter(prefix="/api/receipts", tags=["receipts"], responses=ERRORS)
BusinessQuery = Annotated[Id | None, Query(description="system_admin only; members always see their own.")]


def _public(receipt: Receipt) -> ReceiptPublic:
    return ReceiptPublic.model_validate(receipt, from_attributes=True)


def _document(receipt: Receipt, doc: ReceiptDocument) -> DocumentPublic:
    url = f"/api/receipts/{receipt.id}/documents/{doc.id}"
    return DocumentPublic.model_validate({**doc.__dict__, "download_url": url})


@router.get("", response_model=ReceiptList)
def list_receipts(
    session: SessionDep,
    caller: CallerDep,
    business_id: BusinessQuery = None,
    status: ReviewStatus | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    vendor: Annotated[VendorText | None, Query()] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
    text: Annotated[SearchText | None, Query(description="Searches subject, vendor, sender.")] = None,
    cursor: Annotated[CursorText | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReceiptList:
    """Receipts newest first, filtered; pass `next_cursor` back as `cursor` for the next page."""
    filters = q.ReceiptFilter(status, date_from, date_to, vendor, currency, text)
    page = q.list_receipts(session, caller.business_scope(business_id), filters, limit=limit, cursor=cursor)
    return ReceiptList(items=[_public(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/stats", response_model=ReceiptStats)
def receipt_stats(session: SessionDep, caller: CallerDep, business_id: BusinessQuery = None) -> ReceiptStats:
    """Counts by review status, totals by currency and by month."""
    return ReceiptStats.model_validate(
        q.receipt_stats(session, caller.business_scope(business_id)), from_attributes=True
    )


@router.get("/{receipt_id:int}", response_model=ReceiptDetail)
def get_receipt(receipt: VisibleReceipt, session: SessionDep) -> ReceiptDetail:
    """One receipt with its extraction reasons and documents."""
    return _receipt_detail(session, receipt)


def _receipt_detail(session: SessionDep, receipt: Receipt) -> ReceiptDetail:
    docs = [_document(receipt, d) for d in q.receipt_documents(session, receipt)]
    base = _public(receipt).model_dump()
    return ReceiptDetail.model_validate({**base, "reasons": receipt.reasons, "documents": docs})


@router.patch("/{receipt_id:int}", response_model=ReceiptDetail)
def review_receipt(receipt: VisibleReceipt, body: ReceiptUpdate, session: SessionDep) -> ReceiptDetail:
    """Set the review status and correct extracted fields (the extracted values are kept alongside)."""
    q.update_review(session, receipt, status=body.status, corrections=body.corrections())
    return _receipt_detail(session, receipt)


def _content_disposition(filename: str | None, doc_id: int) -> str:
    name = filename or f"document-{doc_id}"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or f"document-{doc_id}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:200], safe='')}"


@router.get(
    "/{receipt_id:int}/documents/{doc_id:int}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in DOCUMENT_TYPES}}, **UNAVAILABLE},
)
def download_document(receipt: VisibleReceipt, doc_id: Id, session: SessionDep, settings: SettingsDep) -> Response:
    """The stored document's bytes, as an attachment (never rendered inline)."""
    doc = q.get_document(session, receipt, doc_id)
    data = open_storage(settings).get(doc.storage_key)
    headers = {
        "Content-Disposition": _content_disposition(doc.filename, doc.id),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return Response(content=data, media_type=clean_media_type(doc.content_type), headers=headers)
