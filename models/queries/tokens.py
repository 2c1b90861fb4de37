"""API tokens: created once (the plaintext is shown to the operator once), stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.business import ApiToken, Business
from receipt_sync.errors import InvalidRequest, NotFoundError

ROLES = ("member", "system_admin")
TOKEN_PREFIX = "rs_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


DEFAULT_TOKEN_DAYS = 90


def create_api_token(
    session: Session, business_id: int | None, role: str = "member", *, days: int | None = DEFAULT_TOKEN_DAYS
) -> str:
    """Create a token and return its plaintext (never stored). Members belong to one existing business.
    It expires after `days` (None: never, which an operator must ask for explicitly)."""
    if days is not None and days <= 0:
        raise InvalidRequest("a token's lifetime must be a positive number of days")
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
            expires_at=utcnow() + timedelta(days=days) if days is not None else None,
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
    if found.expires_at is not None and found.expires_at <= utcnow():
        return None
    return found


def list_tokens(session: Session, business_id: int | None = None) -> list[ApiToken]:
    """Every token (of one business, when given), newest first; only prefixes, never a secret."""
    stmt = select(ApiToken).order_by(ApiToken.id.desc())
    if business_id is not None:
        stmt = stmt.where(ApiToken.business_id == business_id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a token at once (idempotent: an already revoked token keeps its first revocation time)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


@dataclass(frozen=True)
class TokenSummary:
    """What `token list` and the admin API show of a token (never its secret)."""

    id: int
    prefix: str
    role: str
    business_id: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str  # active | expired | revoked

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def token_summary(token: ApiToken) -> TokenSummary:
    """What `token list` and the admin API show of a token."""
    now = utcnow()
    state = "revoked" if token.revoked_at else "expired" if token.expires_at and token.expires_at <= now else "active"
    return TokenSummary(token.id, token.prefix, token.role, token.business_id, token.created_at, token.expires_at,
                        token.revoked_at, state)  # fmt: skip
