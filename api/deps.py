"""Request dependencies: one database session per request, the authenticated caller, settings.

`Caller.business_scope` is the single place tenant isolation is decided: a member only ever gets their own
business (another business's id is a 404, never a 403, so ids of other tenants leak nothing).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.schemas import Id
from models.db import session_factory
from models.deletion import DeletionRun
from models.queries.businesses import get_business
from models.queries.deletions import get_deletion_run
from models.queries.receipts import get_receipt
from models.queries.sync_runs import get_sync_run
from models.queries.tokens import authenticate
from models.receipt import Receipt
from models.runs import SyncRun
from receipt_sync.errors import AuthenticationRequired, InvalidRequest, NotFoundError, PermissionDenied
from receipt_sync.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    """Commit when the route returns normally, roll back when it raises (before the response is sent)."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
_bearer = HTTPBearer(auto_error=False, description="An API token from `receipts token create`.")


@dataclass(frozen=True)
class Caller:
    token_id: int
    role: str
    business_id: int | None

    @property
    def is_admin(self) -> bool:
        return self.role == "system_admin"

    def business_scope(self, requested: int | None) -> int | None:
        """The business to query: members get their own (404 for any other); admins what they ask (None: all)."""
        if self.is_admin:
            return requested
        if requested is not None and requested != self.business_id:
            raise NotFoundError(f"business {requested} not found")
        return self.business_id

    def acting_business(self, session: Session, requested: int | None) -> int:
        """The one business an action applies to; admins must name it, and it must exist."""
        business_id = self.business_scope(requested)
        if business_id is None:
            raise InvalidRequest("business_id is required for system_admin tokens")
        get_business(session, business_id)
        return business_id


def _caller_from(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Caller | None:
    if credentials is None:
        return None
    token = authenticate(session, credentials.credentials)
    if token is None:
        return None
    return Caller(token_id=token.id, role=token.role, business_id=token.business_id)


def get_caller(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    caller = _caller_from(session, credentials)
    if caller is None:
        raise AuthenticationRequired("a valid API token is required (Authorization: Bearer <token>)")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def visible_sync_run(run_id: Id, session: SessionDep, caller: CallerDep) -> SyncRun:
    """The `{run_id}` sync run, when the caller may see it (another business's is a 404)."""
    return get_sync_run(session, run_id, business_id=caller.business_scope(None))


def visible_deletion_run(run_id: Id, session: SessionDep, caller: CallerDep) -> DeletionRun:
    """The `{run_id}` deletion run, locked for the request's changes, when the caller may see it."""
    return get_deletion_run(session, run_id, business_id=caller.business_scope(None), for_update=True)


def visible_receipt(receipt_id: Id, session: SessionDep, caller: CallerDep) -> Receipt:
    """The `{receipt_id}` receipt, when the caller may see it."""
    return get_receipt(session, caller.business_scope(None), receipt_id)


VisibleSyncRun = Annotated[SyncRun, Depends(visible_sync_run)]
VisibleDeletionRun = Annotated[DeletionRun, Depends(visible_deletion_run)]
VisibleReceipt = Annotated[Receipt, Depends(visible_receipt)]


def require_diagnostics_access(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_diagnostic_key: Annotated[str | None, Header()] = None,
) -> None:
    """system_admin tokens, or the X-Diagnostic-Key header compared in constant time; anyone else: 403."""
    expected = settings.diagnostic_key.get_secret_value() if settings.diagnostic_key else ""
    if expected and x_diagnostic_key is not None and hmac.compare_digest(x_diagnostic_key.encode(), expected.encode()):
        return
    caller = _caller_from(session, credentials)
    if caller is None or not caller.is_admin:
        raise PermissionDenied("diagnostics need a system_admin token or the diagnostic key")


DiagnosticsAccess = Depends(require_diagnostics_access)
