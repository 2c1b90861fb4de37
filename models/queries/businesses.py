"""Businesses (tenants)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.business import Business
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
