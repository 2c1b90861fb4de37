"""Test data made the way the product makes it: businesses, mailboxes, API tokens, runs and receipts.

Each maker opens its own short session and commits, like the product's edges do, and returns ids (plain
values), so a test never holds an ORM object across sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from models import Receipt, SyncRun
from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionFailure, DeletionRun
from models.mailbox import MailboxConnection
from models.queries.businesses import create_business
from models.queries.tokens import create_api_token
from models.receipt import ReceiptDocument
from services.gmail_connect import connect_gmail_mailbox

REFRESH_TOKEN = "1//rt-secret-7c1f0e9a-do-not-log"


def make_business(name: str = "Acme Ltd") -> int:
    with session_scope() as session:
        return create_business(session, name).id


def make_token(business_id: int | None, role: str = "member") -> str:
    """An API token (a member's of `business_id`, or a system_admin's with None), as the client sends it."""
    with session_scope() as session:
        return create_api_token(session, business_id, role)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def connect_gmail(name: str = "Acme Ltd", token: str = REFRESH_TOKEN) -> int:
    """A business with the fake Gmail connected the way `receipts connect-gmail` does it; returns its id."""
    business_id = make_business(name)
    connect_gmail_mailbox(business_id, token, None)
    return business_id


def add_mailbox(business_id: int, *, provider: str = "mbox", address: str | None = None, status: str = "active") -> int:
    with session_scope() as session:
        mailbox = MailboxConnection(
            business_id=business_id, provider=provider, address=address or f"/tmp/business-{business_id}.mbox"
        )
        mailbox.status = status
        session.add(mailbox)
        session.flush()
        return mailbox.id


@dataclass
class Tenant:
    business_id: int
    token: str
    mailbox_id: int

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def make_tenant(name: str) -> Tenant:
    """A business with a member token and an (mbox) mailbox: what an API caller needs."""
    business_id = make_business(name)
    return Tenant(business_id, make_token(business_id), add_mailbox(business_id, address=f"/tmp/{name}.mbox"))


def add_sync_run(business_id: int, **fields: Any) -> int:
    """A sync run record as the trigger writes it (a full API sync unless `fields` say otherwise)."""
    with session_scope() as session:
        run = SyncRun(**{"business_id": business_id, "mode": "full", "trigger": "api", **fields})
        session.add(run)
        session.flush()
        return run.id


def add_deletion_run(business_id: int, status: str = "running", selector: dict[str, Any] | None = None) -> int:
    with session_scope() as session:
        run = DeletionRun(
            business_id=business_id, selector=selector or {"all": True}, status=status, heartbeat_at=utcnow()
        )
        session.add(run)
        session.flush()
        return run.id


def end_deletion_run(run_id: int, status: str, ago: timedelta) -> None:
    """Close a deletion run `ago` in the past (its finish time set, instead of waiting)."""
    with session_scope() as session:
        ended = utcnow() - ago
        session.execute(
            update(DeletionRun)
            .where(DeletionRun.id == run_id)
            .values(status=status, finished_at=ended, updated_at=ended)
        )


def add_deletion_failure(run_id: int, business_id: int, receipt_id: int, key: str = "doc/refused.pdf") -> None:
    """A document storage refused to delete during `run_id`: kept, and reported, until a retry deletes it."""
    with session_scope() as session:
        session.add(
            DeletionFailure(deletion_run_id=run_id, business_id=business_id, receipt_id=receipt_id, storage_key=key)
        )


def age_run(run_id: int, by: timedelta) -> None:
    """Make a sync run's last heartbeat `by` older (instead of sleeping until it is)."""
    with session_scope() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=utcnow() - by))


def sync_runs(business_id: int) -> list[SyncRun]:
    with session_scope() as session:
        return list(session.scalars(select(SyncRun).where(SyncRun.business_id == business_id).order_by(SyncRun.id)))


def stored_receipts(business_id: int) -> dict[str, Receipt]:
    with session_scope() as session:
        rows = session.scalars(select(Receipt).where(Receipt.business_id == business_id)).all()
        return {r.source_message_id: r for r in rows}


def add_receipts(business_id: int, count: int, **fields: Any) -> list[int]:
    """Insert `count` receipts, one day apart, newest last; returns their ids."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope() as session:
        rows = [
            Receipt(
                business_id=business_id,
                source_message_id=f"m-{business_id}-{i}-{fields.get('vendor', '')}",
                subject=f"Receipt {i}",
                sender="billing@shop.example",
                received_at=base + timedelta(days=i),
                vendor=fields.get("vendor", "Acme"),
                total=Decimal(str(fields.get("total", "10.00"))),
                currency=fields.get("currency", "USD"),
                receipt_date=(base + timedelta(days=i)).date(),
                status=fields.get("status", "new"),
                confidence=0.9,
            )
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def add_document(receipt_id: int, business_id: int, key: str, content_type: str = "application/pdf") -> int:
    with session_scope() as session:
        doc = ReceiptDocument(
            receipt_id=receipt_id,
            business_id=business_id,
            kind="attachment",
            filename="../../etc/passwd invoice.pdf",
            content_type=content_type,
            content_hash=key.rsplit("/", 1)[-1],
            storage_key=key,
            size_bytes=3,
        )
        session.add(doc)
        session.flush()
        return doc.id
