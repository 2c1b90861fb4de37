"""API tokens: created once (the plaintext is shown to the operator once), stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.business import ApiToken, Business
from receipt_sync.errors import InvalidRequest, NotFoundError

ROLES = ("member", "system_admin")
TOKEN_PREFIX = "rs_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, business_id: int | None, role: str = "member") -> str:
    """Create a token and return its plaintext (never stored). Members belong to one existing business."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
    if role == "member" and business_id is None:
        raise InvalidRequest("a member token needs a business")
    if business_id is not None and session.get(Business, business_id) is None:
        raise NotFoundError(f"business {business_id} not found")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            business_id=business_id,
            role=role,
            token_hash=hash_token(token),
            prefix=token[:10],
        )
    )
    session.flush()
    return token


def authenticate(session: Session, token: str) -> ApiToken | None:
    """The live token matching `token`, looked up by digest (no plaintext comparison to time)."""
    if not token:
        return None
    found = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if found is None or found.revoked_at is not None:
        return None
    return found
