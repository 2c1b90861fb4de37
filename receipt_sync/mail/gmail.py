"""Gmail as a `MailSource`, through the real `googleapiclient` (see ../shared/GMAIL.md for the why).

- Static discovery with `api_endpoint` and the token URI from settings, so a fake Gmail on 127.0.0.1 works.
- One service / `AuthorizedHttp` per thread: httplib2 is not thread-safe.
- Fetches are `format=raw` (one quota charge per message, attachments included) in batches sent to an
  explicit batch URI (`new_batch_http_request()` ignores `api_endpoint`); transient part failures are
  re-queued into the batch's next attempt, a 404 part becomes a `FetchFailure`.
- Retries: every call (and every batch) is retried in process by the one policy of receipt_sync/retry.py
  (`MAIL_ATTEMPTS`, jittered exponential back-off honouring Retry-After); task retries never retry mail.
- Errors become domain errors: `MailboxAuthError` (never retried), `TransientMailError` (with `retry_after`),
  `HistoryExpiredError`, `PermanentMailError`. No message or repr ever contains a token.
- Quota: a `MailboxQuota` (receipt_sync.mail.quota) is shared by every thread; a batch reserves its units at
  once, a rate-limit answer pauses the whole mailbox (Retry-After honoured). A plain `acquire(units)` limiter
  is asked per call instead.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from receipt_sync.errors import (
    ConfigurationError,
    HistoryExpiredError,
    MailboxAuthError,
    PermanentMailError,
    TransientMailError,
)
from receipt_sync.mail.base import FetchFailure, HistoryPage, ListPage, RawMessage
from receipt_sync.mail.gmail_errors import (
    RATE_LIMIT_REASONS,
    error_reason,
    is_transient_status,
    map_error,
    retry_after_of,
)
from receipt_sync.mail.quota import AcquireOnly, MailboxQuota, as_quota
from receipt_sync.retry import MAIL_ATTEMPTS, RATE_LIMIT_PATIENCE_SECONDS, retrying
from receipt_sync.settings import Settings

GMAIL_READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
HIDDEN_LABELS = frozenset({"SPAM", "TRASH"})


class GmailSource:
    """One Gmail mailbox, read-only. Safe to share between threads."""

    def __init__(
        self,
        refresh_token: str,
        settings: Settings,
        *,
        address: str | None = None,
        limiter: MailboxQuota | AcquireOnly | None = None,
        timeout: float = 60.0,
        attempts: int = MAIL_ATTEMPTS,
        rate_limit_patience_seconds: float = RATE_LIMIT_PATIENCE_SECONDS,
        retry_base_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        secret = settings.google_client_secret
        if not settings.google_client_id or secret is None:
            raise ConfigurationError("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set to read Gmail.")
        self._credentials = Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=settings.google_token_uri,
            client_id=settings.google_client_id,
            client_secret=secret.get_secret_value(),
        )
        self.address = address
        self.messages_total: int | None = None  # the mailbox's size, from the last getProfile answer
        self._endpoint = settings.gmail_api_endpoint.rstrip("/")
        self._settings = settings
        self._quota = as_quota(limiter)
        self._timeout = timeout
        self._attempts = attempts
        self._patience = rate_limit_patience_seconds
        base = settings.gmail_retry_base_seconds if retry_base_seconds is None else retry_base_seconds
        self._retry_base = base
        self._sleep = sleep
        self._local = threading.local()
        self._https: list[httplib2.Http] = []
        self._https_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GmailSource(address={self.address!r}, endpoint={self._endpoint!r})"

    # ----- MailSource ------------------------------------------------------------------------------------
    def current_history_id(self) -> str | None:
        """The mailbox's history id (1 unit); also learns the address if it was not given."""
        profile = self._call(self._users().getProfile(userId="me"), self._settings.gmail_profile_cost)
        self.address = self.address or profile.get("emailAddress")
        self.messages_total = profile.get("messagesTotal")
        return str(profile["historyId"]) if profile.get("historyId") else None

    def email_address(self) -> str:
        """The mailbox's address from `getProfile` (1 unit), e.g. to label a new connection."""
        profile = self._call(self._users().getProfile(userId="me"), self._settings.gmail_profile_cost)
        self.address = str(profile["emailAddress"])
        return self.address

    def list_messages(
        self,
        *,
        page_token: str | None,
        after: datetime | None = None,
        before: datetime | None = None,
        query: str | None = None,
        page_size: int = 500,
    ) -> ListPage:
        """One page of ids, newest first, in `[after, before)` (epoch seconds in `q`) narrowed by `query`."""
        request = (
            self._users()
            .messages()
            .list(
                userId="me",
                q=build_query(after, before, query) or None,
                pageToken=page_token,
                maxResults=min(page_size, 500),
                includeSpamTrash=False,
            )
        )
        data = self._call(request, self._settings.gmail_list_cost)
        ids = [m["id"] for m in data.get("messages", [])]
        return ListPage(ids, data.get("nextPageToken"), data.get("resultSizeEstimate"))

    def list_history(self, *, start_history_id: str, page_token: str | None) -> HistoryPage:
        """Messages added since `start_history_id` (spam and trash left out, like the listing)."""
        request = (
            self._users()
            .history()
            .list(
                userId="me",
                startHistoryId=start_history_id,
                historyTypes="messageAdded",
                pageToken=page_token,
                maxResults=500,
            )
        )
        data = self._call(request, self._settings.gmail_history_cost, not_found=HistoryExpiredError)
        return HistoryPage(added_ids(data.get("history", [])), data.get("nextPageToken"), data.get("historyId"))

    def fetch_messages(self, ids: Sequence[str]) -> list[RawMessage | FetchFailure]:
        """Raw messages in the order of `ids`, fetched in batches; a failed message fails alone."""
        results: dict[str, RawMessage | FetchFailure] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), self._settings.gmail_batch_size):
            results.update(self._fetch_chunk(unique[start : start + self._settings.gmail_batch_size]))
        return [results[message_id] for message_id in ids]

    def close(self) -> None:
        """Close every connection this source opened, in any thread."""
        with self._https_lock:
            for http in self._https:
                http.close()
            self._https.clear()
        self._local = threading.local()

    # ----- plumbing --------------------------------------------------------------------------------------
    def _users(self) -> Any:
        service = getattr(self._local, "service", None)
        if service is None:
            http = httplib2.Http(timeout=self._timeout)
            with self._https_lock:
                self._https.append(http)
            self._local.http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=http)
            service = build(
                "gmail",
                "v1",
                http=self._local.http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self._endpoint},
            )
            self._local.service = service
        return service.users()

    def _call(self, request: Any, units: int, not_found: type[Exception] = PermanentMailError) -> dict[str, Any]:
        """Execute one API request within the retry budget (a transient failure is sent again)."""
        for attempt in self._retrying():
            with attempt:
                return self._call_once(request, units, not_found)
        raise AssertionError("unreachable: the last failure is re-raised")

    def _retrying(self) -> Any:
        return retrying(
            TransientMailError,
            base=self._retry_base,
            attempts=self._attempts,
            retry_after=lambda exc: getattr(exc, "retry_after", None),
            patient=lambda exc: bool(getattr(exc, "rate_limited", False)),
            patience_seconds=self._patience,
            sleep=self._sleep,
        )

    def _call_once(self, request: Any, units: int, not_found: type[Exception]) -> dict[str, Any]:
        try:
            with self._quota.spend(units):
                answer = request.execute(num_retries=0)
        except Exception as exc:
            self._note_refusal(exc)
            self._raise_mapped(exc, not_found)
            raise
        self._quota.succeeded(units)
        return answer

    def _note_refusal(self, exc: BaseException | None, served: int = 0) -> None:
        """Tell the limiter about a rate-limit answer, after `served` parts of the same batch were answered (it
        learns the server's shape from what was served before the refusal, and pauses the mailbox)."""
        if isinstance(exc, HttpError) and _is_rate_limit(exc):
            concurrent = _is_concurrency_refusal(exc)
            self._quota.rate_limited(
                retry_after_of(exc),
                concurrent=concurrent,
                units_served=0 if concurrent else served * self._settings.gmail_fetch_cost,
                parts_served=served if concurrent else 0,
            )

    def _raise_mapped(self, exc: Exception, not_found: type[Exception]) -> None:
        """Raise the domain error for `exc` (from it); return only when it is not a mail error."""
        if not isinstance(exc, HttpError):
            self._drop_connections()
        mapped = map_error(exc, self.address, not_found)
        if mapped is not None:
            raise mapped from exc

    def _drop_connections(self) -> None:
        """After a cut answer or a reset, this thread's keep-alive connection is dead: the next attempt must
        open a new one (httplib2 would otherwise write into the closed socket again: a broken pipe)."""
        authorized = getattr(self._local, "http", None)
        if authorized is not None:
            authorized.http.close()

    def _fetch_chunk(self, ids: list[str]) -> dict[str, RawMessage | FetchFailure]:
        """Up to a batch's worth of ids, in as many batches as the limiter sizes them (smaller after a
        refusal); the parts that failed transiently go again in the next attempt (one retry budget)."""
        done: dict[str, RawMessage | FetchFailure] = {}
        for attempt in self._retrying():
            with attempt:
                pending = [i for i in ids if i not in done]
                while pending:
                    pending = pending[self._send_batch(pending, done) :]
        return done

    def _send_batch(self, pending: list[str], done: dict[str, RawMessage | FetchFailure]) -> int:
        """Send the first ids of `pending` the limiter lets one batch carry; fills `done` with answers, returns how
        many were sent, raises `TransientMailError` when some parts must go again."""
        waits: list[float] = []
        refused: list[HttpError] = []
        cost = self._settings.gmail_fetch_cost
        try:
            with self._quota.spend_batch(cost, len(pending)) as size:
                ids = pending[:size]
                self._batch_request(ids, done, waits, refused).execute(http=self._local.http)
        except Exception as exc:
            self._note_refusal(exc)
            self._raise_mapped(exc, PermanentMailError)
            raise
        served = sum(1 for message_id in ids if message_id in done)
        if refused:
            self._note_refusal(refused[0], served)
        else:
            self._quota.succeeded(served * cost)
        if waits:
            raise TransientMailError(
                f"Gmail kept refusing {len(waits)} message fetches (rate limited or unavailable); try again later.",
                retry_after=max(waits),
                rate_limited=len(refused) == len(waits),  # only pacing, no part failing
            )
        return size

    def _batch_request(
        self, ids: list[str], done: dict[str, RawMessage | FetchFailure], waits: list[float], refused: list[HttpError]
    ) -> BatchHttpRequest:
        """A batch of `messages.get` for `ids` whose answers go to `done`, and transient refusals to `waits`."""

        def on_answer(request_id: str, response: dict[str, Any] | None, exc: HttpError | None) -> None:
            message_id = ids[int(request_id)]
            if exc is None and response is not None:
                done[message_id] = to_raw_message(response)
            elif exc is not None and _part_is_transient(exc):
                waits.append(retry_after_of(exc) or 0.0)
                if _is_rate_limit(exc):
                    refused.append(exc)
            else:
                done[message_id] = FetchFailure(message_id, _part_error_text(exc))

        batch = BatchHttpRequest(callback=on_answer, batch_uri=f"{self._endpoint}/batch/gmail/v1")
        messages = self._users().messages()
        for index, message_id in enumerate(ids):
            batch.add(messages.get(userId="me", id=message_id, format="raw"), request_id=str(index))
        return batch


def build_query(after: datetime | None, before: datetime | None, query: str | None) -> str:
    """Gmail `q` for a window: `after:`/`before:` in epoch seconds (dates would mean Pacific midnight)."""
    terms = []
    if after is not None:
        terms.append(f"after:{int(_aware(after).timestamp())}")
    if before is not None:
        terms.append(f"before:{int(_aware(before).timestamp())}")
    if query and query.strip():
        terms.append(f"({query.strip()})")
    return " ".join(terms)


def added_ids(history: list[dict[str, Any]]) -> list[str]:
    """Ids from `messagesAdded` records, first occurrence order, without spam and trash."""
    ids: dict[str, None] = {}
    for record in history:
        for added in record.get("messagesAdded", []):
            message = added.get("message", {})
            if message.get("id") and not HIDDEN_LABELS & set(message.get("labelIds", [])):
                ids.setdefault(message["id"], None)
    return list(ids)


def to_raw_message(data: dict[str, Any]) -> RawMessage | FetchFailure:
    """A `format=raw` answer as a `RawMessage`; undecodable base64 fails that message alone."""
    try:
        raw = decode_base64url(data["raw"])
    except (KeyError, ValueError) as exc:
        return FetchFailure(str(data.get("id")), f"unreadable raw message: {exc.__class__.__name__}")
    return RawMessage(
        id=data["id"],
        raw=raw,
        thread_id=data.get("threadId"),
        internal_date=parse_internal_date(data.get("internalDate")),
        label_ids=tuple(data.get("labelIds", [])),
    )


def decode_base64url(text: str) -> bytes:
    """Gmail's base64url with its inconsistent padding fixed."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_internal_date(value: str | int | None) -> datetime | None:
    """`internalDate` (epoch milliseconds, as a string) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_rate_limit(exc: HttpError) -> bool:
    """429, or a 403 whose reason is a rate limit (not a daily limit or a permission problem)."""
    return exc.resp.status == 429 or (exc.resp.status == 403 and error_reason(exc) in RATE_LIMIT_REASONS)


def _is_concurrency_refusal(exc: HttpError) -> bool:
    """ "Too many concurrent requests for user": a cap on requests at once, not on units."""
    return b"concurrent" in (exc.content or b"")


def _part_is_transient(exc: HttpError) -> bool:
    return is_transient_status(exc.resp.status, error_reason(exc))


def _part_error_text(exc: HttpError | None) -> str:
    if exc is None:
        return "empty answer from Gmail"
    if exc.resp.status == 404:
        return "message not found in Gmail (deleted since it was listed)"
    return f"Gmail answered HTTP {exc.resp.status} ({error_reason(exc) or 'no reason'})"


__all__ = ["GMAIL_READONLY_SCOPE", "GmailSource", "MailboxAuthError"]
