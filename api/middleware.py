"""Bounded requests: authentication before any body is read, and a body size limit enforced while reading.

A pure ASGI middleware, so nothing reads the body before it decides: a request with a body and no valid token is
401 without one byte of its body read (a 400 MB PATCH no longer costs the API 1 GB), a declared `Content-Length`
over the limit is 413 at once, and a chunked body is counted as it arrives and cut off at the limit with a 413.
uvicorn itself has no body limit; it bounds headers (`--h11-max-incomplete-event-size`) and connections.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.db import session_scope
from models.queries.tokens import authenticate
from receipt_sync.settings import get_settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so FastAPI's body reading passes it on (other errors there turn
    into a 400) and the app's handler answers it in the usual JSON shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {limit}-byte limit")


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    headers.append((b"connection", b"close"))  # the unread body must not be taken as the next request
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _token_is_valid(token: str) -> bool:
    with session_scope() as session:
        return authenticate(session, token) is not None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers", ()))
    return (_declared_length(scope) or 0) > 0 or b"transfer-encoding" in headers


class BodyGuard:
    """401 before reading the body of an unauthenticated `/api/` request; 413 past `max_body_bytes`."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | None = None) -> None:
        self.app = app
        self._max_body_bytes = max_body_bytes

    @property
    def max_body_bytes(self) -> int:
        """`API_MAX_BODY_BYTES`, read per request (settings are cached) unless fixed at construction."""
        return self._max_body_bytes or get_settings().api_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            token = _bearer(scope)
            if token is None or not await run_in_threadpool(_token_is_valid, token):
                message = "a valid API token is required (Authorization: Bearer <token>)"
                await _send_error(send, 401, "unauthorized", message)
                return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _send_error(send, 413, "payload_too_large", str(BodyTooLarge(self.max_body_bytes).detail))
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if not started:
                await _send_error(send, 413, "payload_too_large", str(exc.detail))


def redact_infrastructure(text: str) -> str:
    """Error text for API callers without the internal Prefect address (operators find it in logs, `doctor`)."""
    url = str(get_settings().prefect_api_url or "")
    return text.replace(url, "(internal)") if url else text
