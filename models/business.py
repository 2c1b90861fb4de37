"""Businesses (the tenants) and the hashed API tokens that act for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, UTCDateTime, utcnow


class Business(Base):
    __tablename__ = "business"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # After the receipt query's messages, syncs sweep the rest of the mailbox (services/sweep.py); off: the
    # query decides which messages are read at all (fewer Gmail units, receipts it misses are not found).
    sweep_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ApiToken(Base):
    """Only the SHA-256 of a token is kept; `prefix` lets an operator recognise it without the secret."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_id: Mapped[int | None] = mapped_column(ForeignKey("business.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # member | system_admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: never (tokens made before 0005_sec)
