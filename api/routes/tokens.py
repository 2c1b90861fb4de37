"""API tokens for operators (system_admin tokens only): list them, revoke one at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import CallerDep, SessionDep
from api.responses import ERRORS, FORBIDDEN
from models.queries.tokens import list_tokens, revoke_token, token_summary
from receipt_sync.errors import PermissionDenied

router = APIRouter(prefix="/api/admin/tokens", tags=["tokens"], responses={**ERRORS, **FORBIDDEN})


TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class TokenPublic(BaseModel):
    id: int
    prefix: str
    role: str
    business_id: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str


class TokenList(BaseModel):
    items: list[TokenPublic]


def _require_admin(caller: CallerDep) -> None:
    if not caller.is_admin:
        raise PermissionDenied("managing API tokens needs a system_admin token")


@router.get("", response_model=TokenList)
def get_tokens(
    session: SessionDep,
    caller: CallerDep,
    business_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> TokenList:
    """Every API token (or one business's): prefixes and state, never a secret."""
    _require_admin(caller)
    return TokenList(
        items=[
            TokenPublic.model_validate(token_summary(t), from_attributes=True)
            for t in list_tokens(session, business_id)
        ]
    )


@router.post("/{token_id}/revoke", response_model=TokenPublic)
def post_revoke(
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, caller: CallerDep
) -> TokenPublic:
    """Revoke a token: its next request is a 401."""
    _require_admin(caller)
    return TokenPublic.model_validate(token_summary(revoke_token(session, token_id)), from_attributes=True)
