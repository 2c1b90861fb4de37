"""Mailbox connections: which mailbox a business syncs, its status, and where its next sync starts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.mailbox import MailboxCheckpoint, MailboxConnection
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


def save_mailbox_checkpoint(session: Session, mailbox_id: int, checkpoint: MailboxCheckpoint) -> None:
    mailbox = session.get(MailboxConnection, mailbox_id)
    if mailbox is not None:
        mailbox.sync_checkpoint = {**(mailbox.sync_checkpoint or {}), **checkpoint}
        mailbox.last_synced_at = utcnow()


def business_ids_with_mailboxes(session: Session) -> list[int]:
    """Ids of the businesses with a mailbox that is not disconnected."""
    rows = session.scalars(
        select(MailboxConnection.business_id).where(MailboxConnection.status != "disconnected").distinct()
    )
    return sorted(rows)


def gmail_mailboxes_by_business(session: Session) -> dict[int, list[MailboxConnection]]:
    """Connected Gmail mailboxes by business (an imported mbox is a one-off, not something to poll)."""
    rows = session.scalars(
        select(MailboxConnection)
        .where(MailboxConnection.provider == "gmail", MailboxConnection.status != "disconnected")
        .order_by(MailboxConnection.business_id, MailboxConnection.id)
    ).all()
    by_business: dict[int, list[MailboxConnection]] = {}
    for mailbox in rows:
        by_business.setdefault(mailbox.business_id, []).append(mailbox)
    return by_business


def mailboxes_with_tokens(session: Session, *, for_update: bool = False) -> list[MailboxConnection]:
    """Every mailbox with a stored (encrypted) refresh token; locked when the caller will rewrite them."""
    stmt = select(MailboxConnection).where(MailboxConnection.encrypted_refresh_token.isnot(None))
    return list(session.scalars(stmt.with_for_update() if for_update else stmt))


def mailboxes_by_ids(session: Session, mailbox_ids: Iterable[int]) -> list[MailboxConnection]:
    return list(session.scalars(select(MailboxConnection).where(MailboxConnection.id.in_(list(mailbox_ids)))))


def active_gmail_probes(session: Session) -> list[tuple[datetime | None, str | None]]:
    """(last probed at, last probe error) of every active Gmail mailbox."""
    rows = session.execute(
        select(MailboxConnection.last_probed_at, MailboxConnection.last_probe_error).where(
            MailboxConnection.provider == "gmail", MailboxConnection.status == "active"
        )
    ).all()
    return [(at, error) for at, error in rows]
