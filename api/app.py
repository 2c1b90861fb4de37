"""The FastAPI application factory; every error becomes HTTP here, in one place, with one JSON shape.

`{"error": code, "message": text, ...details}` for every 4xx and 5xx, including FastAPI's own validation
errors and Starlette's 404/405. Routers are listed in `ROUTERS`; new areas (deletions) append theirs.
Run with `uvicorn api.app:create_app --factory`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.middleware import BodyGuard, redact_infrastructure
from api.routes import deletions, health, jobs, receipts, sync, tokens
from receipt_sync import errors as e
from receipt_sync.jsontypes import JsonObject

log = logging.getLogger(__name__)

# Order matters: fixed paths before `/api/receipts/{receipt_id}`.
ROUTERS: list[APIRouter] = [health.router, jobs.router, sync.router, deletions.router, receipts.router, tokens.router]

STATUS_BY_ERROR: list[tuple[type[e.ReceiptSyncError], int]] = [
    (e.AuthenticationRequired, 401),
    (e.PermissionDenied, 403),
    (e.NotFoundError, 404),
    (e.InvalidRequest, 400),
    (e.SyncAlreadyRunning, 409),
    (e.DeletionAlreadyRunning, 409),
    (e.RunStateConflict, 409),
    (e.MailboxAuthError, 409),
    (e.MailboxNotConnected, 409),
    (e.OrchestratorUnavailable, 503),
    (e.StorageError, 503),
    (e.ConfigurationError, 500),
]
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def error_response(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **details}, status_code=status, headers=headers)


def _status_for(exc: e.ReceiptSyncError) -> int:
    return next((status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls)), 500)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.ReceiptSyncError)
    status = _status_for(exc)
    details: JsonObject = dict(getattr(exc, "details", {}) or {})  # the error body's extra fields
    if isinstance(exc, e.OrchestratorUnavailable):
        details["action"] = exc.action
    if status >= 500 and not isinstance(exc, e.OrchestratorUnavailable | e.StorageError):
        log.error("unexpected %s on %s %s", exc.code, request.method, request.url.path)
        return error_response(status, "internal_error", "internal error")
    return error_response(status, exc.code, redact_infrastructure(str(exc)), **details)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]
    first = exc.errors()[0] if problems else {"msg": "invalid request"}
    where, what = ".".join(str(p) for p in first.get("loc", ())), str(first.get("msg", ""))
    message = f"{where}: {what}" if where else what
    return error_response(422, "validation_error", message, details=problems)


async def _starlette_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    response = error_response(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # every method the path takes, not only its first route's (RFC 9110)
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    path = request.url.path
    routes = [r for r in _api_routes(request.app.routes) if r.path_regex.match(path)]
    return sorted({m for r in routes for m in r.methods or ()})


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, included routers' too (FastAPI wraps an included router; its routes keep full paths)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            found.extend(_api_routes(inner.routes))
    return found


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataError):
        return error_response(400, "invalid_request", "a value is out of range for the database")
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(503, "database_unavailable", "the database is unreachable; try again shortly")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error")


def create_app() -> FastAPI:
    """Build the app: routers from `ROUTERS`, every error mapped to the stable JSON shape.

    `/docs` and `/redoc` are served with their own assets (fastapi-offline), not a CDN: operators' networks may
    have no internet, and a blank docs page helps nobody.
    """
    app = FastAPIOffline(
        title="Receipt Sync API",
        version="1.0",
        description="Trigger and watch Gmail receipt syncs (run by Prefect) and browse the receipts found.",
    )
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyGuard)
    app.add_exception_handler(e.ReceiptSyncError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _starlette_http_error)
    app.add_exception_handler(DataError, _database_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
    return app
