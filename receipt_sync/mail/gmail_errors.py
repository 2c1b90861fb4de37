"""Turning what googleapiclient, google-auth and httplib2 raise into the product's domain errors.

Messages are written for the user and built only from status codes and Google's error reasons, never from
request data, so a token can never leak through them.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import BatchError, HttpError

from receipt_sync.errors import MailboxAuthError, PermanentMailError, TransientMailError

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.ECONNREFUSED, errno.EPIPE, errno.ETIMEDOUT})


def reconnect_message(address: str | None) -> str:
    mailbox = address or "this mailbox"
    return (
        f"Gmail access for {mailbox} was revoked or has expired. "
        "Reconnect the mailbox (receipts connect-gmail) to resume syncing."
    )


def is_transient_status(status: int, reason: str | None) -> bool:
    """429, 5xx and 403 rate-limit answers are worth retrying; everything else is not."""
    return status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS)


def error_reason(exc: HttpError) -> str | None:
    """The first `errors[].reason` of a Google JSON error body, if there is one."""
    try:
        error = json.loads(exc.content.decode("utf-8"))["error"]
        errors = error.get("errors") or [{}]
        return errors[0].get("reason") or error.get("status")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def retry_after_of(exc: HttpError) -> float | None:
    """The Retry-After header (seconds or an HTTP date) as seconds to wait."""
    value = exc.resp.get("retry-after") if exc.resp is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def map_error(exc: BaseException, address: str | None, not_found: type[Exception]) -> Exception | None:
    """The domain error for `exc`, or None when it is not a mail error (a bug: let it propagate)."""
    if isinstance(exc, RefreshError):
        return _refresh_error(exc, address)
    if isinstance(exc, HttpError):
        return _http_error(exc, address, not_found)
    if isinstance(exc, BatchError):
        return TransientMailError("Gmail sent a malformed batch answer; try again.")
    if isinstance(exc, http.client.HTTPException):  # IncompleteRead (an answer cut short), a bad status line
        return TransientMailError(f"Gmail's answer was cut short ({exc.__class__.__name__}); try again.")
    if isinstance(exc, (TransportError, httplib2.HttpLib2Error, TimeoutError, socket.timeout, ConnectionError)):
        return TransientMailError(f"Could not reach Gmail ({exc.__class__.__name__}); try again.")
    if isinstance(exc, OSError) and exc.errno in RESET_ERRNOS:
        return TransientMailError(f"Connection to Gmail failed ({errno.errorcode.get(exc.errno or 0)}); try again.")
    return None


def _refresh_error(exc: RefreshError, address: str | None) -> Exception:
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(details.get("error") or "")
    if code == "invalid_grant":
        return MailboxAuthError(reconnect_message(address))
    if getattr(exc, "retryable", False):
        return TransientMailError("Google's token endpoint is unavailable; try again.")
    return PermanentMailError(
        f"Google refused to refresh the Gmail access token ({code or 'no error code'}); "
        "check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET."
    )


def _http_error(exc: HttpError, address: str | None, not_found: type[Exception]) -> Exception:
    status, reason = exc.resp.status, error_reason(exc)
    if status == 401 or (status == 403 and reason in SCOPE_REASONS):
        return MailboxAuthError(reconnect_message(address))
    if is_transient_status(status, reason):
        return TransientMailError(
            f"Gmail is busy (HTTP {status} {reason or ''}); retrying later.".replace(" )", ")"),
            retry_after=retry_after_of(exc),
            rate_limited=status == 429 or reason in RATE_LIMIT_REASONS,
        )
    if status == 404:
        return not_found(f"Gmail no longer has this item (HTTP 404 {reason or ''}).".replace(" )", ")"))
    return PermanentMailError(f"Gmail refused the request (HTTP {status} {reason or 'no reason'}).")
