"""Mailbox connections: which mailbox a business syncs, its status, and where its next sync starts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.mailbox import MailboxConnection
from receipt_sync.errors import MailboxNotConnected


def connect_mailbox(
    session: Session,
    *,
    business_id: int,
    provider: str,
    address: str,
    encrypted_refresh_token: str | None = None,
) -> MailboxConnection:
    """Create or refresh the connection; reconnecting clears `needs_reauth` and keeps the checkpoint."""
    mailbox = session.scalars(
        select(MailboxConnection).where(
            MailboxConnection.business_id == business_id,
            MailboxConnection.provider == provider,
            MailboxConnection.address == address,
        )
    ).first()
    if mailbox is None:
        mailbox = MailboxConnection(business_id=business_id, provider=provider, address=address)
        session.add(mailbox)
    if encrypted_refresh_token is not None:
        mailbox.encrypted_refresh_token = encrypted_refresh_token
    mailbox.status = "active"
    mailbox.status_reason = None
    session.flush()
    return mailbox


def mailbox_for_business(session: Session, business_id: int) -> MailboxConnection:
    """The business's most recently connected mailbox that is not disconnected."""
    mailbox = session.scalars(
        select(MailboxConnection)
        .where(MailboxConnection.business_id == business_id, MailboxConnection.status != "disconnected")
        .order_by(MailboxConnection.id.desc())
    ).first()
    if mailbox is None:
        raise MailboxNotConnected(
            f"business {business_id} has no connected mailbox: run "
            f"`receipts connect-gmail --business {business_id}` or `receipts import-mbox FILE --business {business_id}`"
        )
    return mailbox


def mailbox_statuses(session: Session, business_id: int) -> list[tuple[int, str]]:
    """(id, status) of every mailbox of the business, oldest first."""
    rows = session.execute(
        select(MailboxConnection.id, MailboxConnection.status)
        .where(MailboxConnection.business_id == business_id)
        .order_by(MailboxConnection.id)
    )
    return [(mailbox_id, status) for mailbox_id, status in rows]


def mark_needs_reauth(session: Session, mailbox_id: int, reason: str) -> None:
    mailbox = session.get(MailboxConnection, mailbox_id)
    if mailbox is not None:
        mailbox.status = "needs_reauth"
        mailbox.status_reason = reason


def save_mailbox_checkpoint(session: Session, mailbox_id: int, checkpoint: dict[str, Any]) -> None:
    mailbox = session.get(MailboxConnection, mailbox_id)
    if mailbox is not None:
        mailbox.sync_checkpoint = {**(mailbox.sync_checkpoint or {}), **checkpoint}
        mailbox.last_synced_at = utcnow()
