"""Businesses (tenants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.business import Business
from models.mailbox import MailboxConnection
from models.receipt import Receipt
from receipt_sync.errors import InvalidRequest, NotFoundError


def create_business(session: Session, name: str) -> Business:
    """Insert a business and return it with its id assigned."""
    name = name.strip()
    if not name:
        raise InvalidRequest("a business needs a name")
    business = Business(name=name[:200])
    session.add(business)
    session.flush()
    return business


def get_business(session: Session, business_id: int) -> Business:
    business = session.get(Business, business_id)
    if business is None:
        raise NotFoundError(f"business {business_id} not found")
    return business


def business_by_name(session: Session, name: str) -> Business | None:
    """The first business called `name` (names are not unique: the demo finds its own business by it)."""
    return session.scalars(select(Business).where(Business.name == name).order_by(Business.id)).first()


@dataclass(frozen=True)
class BusinessListing:
    """A business as `receipts business list` shows it: its mailbox and how many receipts it holds."""

    id: int
    name: str
    created_at: datetime
    mailbox: str | None
    mailbox_status: str | None
    last_synced_at: datetime | None
    receipts: int


def list_businesses(session: Session) -> list[BusinessListing]:
    """Every business, oldest first, with its most recent mailbox that is not disconnected."""
    mailboxes: dict[int, MailboxConnection] = {}
    for connected in session.scalars(
        select(MailboxConnection).where(MailboxConnection.status != "disconnected").order_by(MailboxConnection.id)
    ):
        mailboxes[connected.business_id] = connected  # the newest wins
    counted = session.execute(select(Receipt.business_id, func.count()).group_by(Receipt.business_id)).tuples()
    counts: dict[int, int] = dict(counted.all())
    listings = []
    for business in session.scalars(select(Business).order_by(Business.id)):
        mailbox = mailboxes.get(business.id)
        listings.append(
            BusinessListing(
                id=business.id,
                name=business.name,
                created_at=business.created_at,
                mailbox=mailbox.address if mailbox else None,
                mailbox_status=mailbox.status if mailbox else None,
                last_synced_at=mailbox.last_synced_at if mailbox else None,
                receipts=counts.get(business.id, 0),
            )
        )
    return listings
