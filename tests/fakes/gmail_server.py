"""A fake Gmail API + Google OAuth token endpoint on 127.0.0.1, speaking Gmail's wire protocol.

The real `googleapiclient` (static discovery, `api_endpoint` pointed here) and `google-auth` talk to it over
HTTP, so tests and benchmarks exercise the production client code. It holds one mailbox ("me").

Endpoints (paths as the discovery document builds them):
- `GET  /gmail/v1/users/me/profile`                      -> method `getProfile`
- `GET  /gmail/v1/users/me/messages`                     -> `messages.list` (q: see receipt_sync/mail/search.py)
- `GET  /gmail/v1/users/me/messages/{id}`                -> `messages.get` (raw | full | metadata | minimal)
- `GET  /gmail/v1/users/me/messages/{id}/attachments/{a}` -> `attachments.get`
- `GET  /gmail/v1/users/me/history`                      -> `history.list` (404 once history is expired)
- `POST /batch/gmail/v1`                                 -> `batch` (each inner part logged as its method)
- `POST /token`                                          -> `token` (refresh_token grant, invalid_grant)

Faults: `fail_next()` (scripted API errors, batch parts included), `error_rate` (seeded random 5xx),
`storm(seconds)` (every API call answered 429 for a while), `latency` (seconds per HTTP request),
`max_concurrent` (429 "Too many concurrent requests for user"), and transport faults on whole HTTP exchanges,
scripted (`cut_next(n, kind)`) or seeded random (`cut_rates`): "truncate" (the body is cut short after the
headers promised all of it: the client's `http.client.IncompleteRead`), "reset" (the connection is closed
without an answer), "stall" (no answer for `stall_seconds`: the client times out).

Per-user quota enforcement (`quota_units_per_minute`, method costs in `costs`), in one of the shapes a real
server may use (`quota_model`): "window" (a sliding 60 s window of units), "bucket" (a token bucket refilled
at the per-minute quota's rate and holding `burst_seconds` of it: 1.0 or 0.5 for a per-second bucket, 60 for
a per-minute one), optionally at `quota_share` of the documented rate (a server stricter than its docs).
A quota refusal is `quota_refusal` (429 rateLimitExceeded, or e.g. (403, "userRateLimitExceeded")), with a
Retry-After header unless `retry_after_header` is off. `concurrent_parts` makes each part of a batch count
against `max_concurrent` (the parts beyond the cap answered 429 "Too many concurrent requests" one by one),
as a server counting a batch as its requests would; `latency_jitter` adds up to that many seconds of random
latency per request (answers arrive out of the order they were sent in).

Every API call is logged in `requests` (`RequestRecord`): `cost` is the method's quota cost, `units` what
was charged. Units are charged when a call passed auth, scripted/random faults and the quota check; calls
refused by the quota (429) are not charged, so `units` summed over any 60 s window is the quota spent.
"""

from __future__ import annotations

import json
import math
import random
import re
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from receipt_sync.mail.search import SearchFields, parse_query
from tests.fakes import gmail_payload as payloads
from tests.fakes.gmail_batch import parse_batch, render_batch

DEFAULT_REFRESH_TOKEN = "fake-refresh-token"
CUT_KINDS = ("truncate", "reset", "stall")
QUOTA_MODELS = ("window", "bucket")
FETCH_METHODS = ("messages.get", "attachments.get")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
DEFAULT_REASONS = {
    400: "invalidArgument",
    401: "authError",
    403: "userRateLimitExceeded",
    404: "notFound",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}
ROUTES = [
    ("getProfile", re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/profile$")),
    ("messages.list", re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/messages$")),
    ("messages.get", re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/messages/(?P<id>[^/]+)$")),
    (
        "attachments.get",
        re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/messages/(?P<id>[^/]+)/attachments/(?P<att>[^/]+)$"),
    ),
    ("history.list", re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/history$")),
]


@dataclass(frozen=True)
class FakeMessage:
    """A message to load: raw RFC 822 bytes plus the metadata Gmail keeps beside it."""

    raw: bytes
    id: str | None = None
    thread_id: str | None = None
    internal_date: datetime | int | None = None  # datetime, or epoch milliseconds
    label_ids: tuple[str, ...] = ("INBOX",)


@dataclass(frozen=True)
class RequestRecord:
    """One API call as the server saw it (batch parts are separate records with `in_batch=True`)."""

    time: float  # time.monotonic() when the request arrived
    method: str
    status: int
    units: int
    cost: int
    in_batch: bool = False
    reason: str | None = None
    target: str = ""  # path and query string, e.g. to check the `q` a client sent


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Stored:
    id: str
    thread_id: str
    raw: bytes
    internal_ms: int
    labels: tuple[str, ...]
    history_id: int
    fields: SearchFields | None = None


@dataclass
class _Fault:
    status: int
    reason: str
    retry_after: float | None
    method: str | None
    after: int = 0  # matching calls still let through before this fault is served


def json_reply(status: int, data: object, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(data).encode()
    return Reply(status, body, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})})


def google_error(status: int, reason: str | None = None, message: str | None = None) -> Reply:
    """An error in Google's JSON error format."""
    reason = reason or DEFAULT_REASONS.get(status, "unknown")
    message = message or f"{reason}"
    error = {"message": message, "domain": "global", "reason": reason}
    data = {"error": {"code": status, "message": message, "errors": [error], "status": STATUS_NAMES.get(status)}}
    return json_reply(status, data)


def to_epoch_ms(value: datetime | int | None, raw: bytes) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    try:
        return to_epoch_ms(parsedate_to_datetime(str(payloads.parse(raw).get("Date"))), raw)
    except (TypeError, ValueError):
        return int(time.time() * 1000)


class FakeGmailServer:
    """One fake mailbox behind a threaded HTTP server; use as a context manager (`gmail.url`)."""

    def __init__(
        self,
        messages: Iterable[FakeMessage | bytes] = (),
        *,
        address: str = "user@example.com",
        refresh_tokens: Iterable[str] = (DEFAULT_REFRESH_TOKEN,),
        latency: float = 0.0,
        error_rate: float = 0.0,
        error_status: int = 500,
        seed: int = 0,
        quota_units_per_minute: int | None = None,
        fetch_cost: int = 20,
        costs: dict[str, int] | None = None,
        max_concurrent: int | None = None,
        quota_model: str = "window",
        burst_seconds: float = 1.0,
        quota_share: float = 1.0,
        quota_refusal: tuple[int, str] = (429, "rateLimitExceeded"),
        retry_after_header: bool = True,
        concurrent_parts: bool = False,
        latency_jitter: float = 0.0,
        cut_rates: dict[str, float] | None = None,
        stall_seconds: float = 5.0,
        inline_part_limit: int = 16 * 1024,
        require_auth: bool = True,
    ) -> None:
        self.address = address
        self.latency = latency
        self.error_rate = error_rate
        self.error_status = error_status
        self.quota_units_per_minute = quota_units_per_minute
        self.costs = {"getProfile": 1, "messages.list": 5, "history.list": 2, "batch": 0, "token": 0}
        self.costs.update({m: fetch_cost for m in FETCH_METHODS})
        self.costs.update(costs or {})
        self.max_concurrent = max_concurrent
        self.quota_model = quota_model
        self.burst_seconds = burst_seconds
        self.quota_share = quota_share
        self.quota_refusal = quota_refusal
        self.retry_after_header = retry_after_header
        self.concurrent_parts = concurrent_parts
        self.latency_jitter = latency_jitter
        self.cut_rates = dict(cut_rates or {})
        self.stall_seconds = stall_seconds
        self.cuts: list[tuple[float, str]] = []  # (time, kind) of every transport fault served
        self.inline_part_limit = inline_part_limit
        self.require_auth = require_auth
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._refresh_tokens = set(refresh_tokens)
        self._access_tokens: dict[str, str] = {}
        self._messages: dict[str, _Stored] = {}
        self._history: list[tuple[int, str, str]] = []  # (history id, "messageAdded"/"messageDeleted", id)
        self._history_id = 1000
        self._oldest_history_id = 1000  # the smallest startHistoryId history.list still accepts
        self._next_id = 0x18C0000000000000
        self._faults: deque[_Fault] = deque()
        self._charged: deque[tuple[float, int]] = deque()
        self._bucket: tuple[float, float] | None = None  # (tokens, refilled at)
        self._storm_until, self._storm_status = 0.0, 429
        self._storm: tuple[float, int, str | None] = (0.0, 429, "")  # (seconds, status, starting method)
        self._cuts: deque[str] = deque()
        self._in_flight = 0
        self._list_cache: dict[tuple[str, bool, tuple[str, ...]], list[str]] = {}
        self._records: list[RequestRecord] = []
        # Called with (method, target) before each API call is admitted: a test's way to act at a precise point
        # of a sync (script a fault for this very call, ask for another sync while a sweep is fetching).
        self.before_call: Callable[[str, str], None] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for message in messages:
            self.add_message(message)

    # ----- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FakeGmailServer:
        handler = type("Handler", (_Handler,), {"gmail": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-gmail", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGmailServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API endpoint (GMAIL_API_ENDPOINT); the token URI is `token_uri`."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def batch_uri(self) -> str:
        return f"{self.url}/batch/gmail/v1"

    # ----- mailbox control -------------------------------------------------------------------------------
    def add_message(
        self,
        message: FakeMessage | bytes,
        *,
        id: str | None = None,
        thread_id: str | None = None,
        internal_date: datetime | int | None = None,
        label_ids: Iterable[str] = ("INBOX",),
    ) -> str:
        """Deliver a message (new mail arriving: it gets a new history id). Returns its id."""
        if isinstance(message, bytes):
            message = FakeMessage(message, id, thread_id, internal_date, tuple(label_ids))
        with self._lock:
            self._next_id += 1
            message_id = message.id or f"{self._next_id:016x}"
            self._history_id += 1
            self._messages[message_id] = _Stored(
                message_id,
                message.thread_id or message_id,
                message.raw,
                to_epoch_ms(message.internal_date, message.raw),
                tuple(message.label_ids),
                self._history_id,
            )
            self._history.append((self._history_id, "messageAdded", message_id))
            self._list_cache.clear()
            return message_id

    def delete_message(self, message_id: str) -> None:
        """Delete a message for good (later gets answer 404)."""
        with self._lock:
            self._messages.pop(message_id)
            self._history_id += 1
            self._history.append((self._history_id, "messageDeleted", message_id))
            self._list_cache.clear()

    def raw(self, message_id: str) -> bytes:
        return self._messages[message_id].raw

    @property
    def history_id(self) -> str:
        return str(self._history_id)

    @property
    def message_ids(self) -> list[str]:
        """All ids, newest first (the order of messages.list)."""
        with self._lock:
            return self._sorted_ids(lambda m: True)

    def expire_history(self) -> None:
        """Forget all history: every history id handed out so far now gets 404 from history.list."""
        with self._lock:
            self._history_id += 1
            self._oldest_history_id = self._history_id
            self._history.clear()

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token and the access tokens minted from it (like a user removing access)."""
        with self._lock:
            self._refresh_tokens.discard(refresh_token)
            for access, refresh in list(self._access_tokens.items()):
                if refresh == refresh_token:
                    del self._access_tokens[access]

    def add_refresh_token(self, refresh_token: str) -> None:
        with self._lock:
            self._refresh_tokens.add(refresh_token)

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        reason: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next `n` API calls (optionally only of `method`, e.g. "messages.list") with an error,
        once `after` matching calls have been answered normally (a fault at a fixed point of a sync, not a time)."""
        with self._lock:
            reason = reason or DEFAULT_REASONS.get(status, "unknown")
            self._faults.extend(_Fault(status, reason, retry_after, method, after if i == 0 else 0) for i in range(n))

    def storm(self, seconds: float, status: int = 429, *, on: str | None = None) -> None:
        """Refuse every API call with `status` (rate limit, no Retry-After) for `seconds`, from now or from the
        next call of method `on` (e.g. "messages.get": a storm in the middle of a sync)."""
        with self._lock:
            self._storm = (seconds, status, on)
            if on is None:
                self._start_storm()

    def _start_storm(self) -> None:
        seconds, self._storm_status, _ = self._storm
        self._storm_until, self._storm = time.monotonic() + seconds, (0.0, 429, "")

    def cut_next(self, n: int = 1, kind: str = "truncate") -> None:
        """Break the next `n` HTTP exchanges (a batch is one) with a transport fault: truncate|reset|stall."""
        if kind not in CUT_KINDS:
            raise ValueError(f"unknown transport fault {kind!r}")
        with self._lock:
            self._cuts.extend([kind] * n)

    def take_cut(self) -> str | None:
        """The transport fault for the exchange being answered, if any (scripted first, then random)."""
        with self._lock:
            kind = self._cuts.popleft() if self._cuts else None
            for name in CUT_KINDS:
                rate = self.cut_rates.get(name, 0.0)
                if kind is None and rate and self._random.random() < rate:
                    kind = name
            if kind is not None:
                self.cuts.append((time.monotonic(), kind))
            return kind

    # ----- the request log -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method == method]

    def max_units_in_window(self, seconds: float = 60.0) -> int:
        """The most units charged within any window of `seconds` (the quota a client really used)."""
        charged = [(r.time, r.units) for r in self.requests if r.units]
        best, total, start = 0, 0, 0
        for end_time, units in charged:
            total += units
            while charged[start][0] <= end_time - seconds:
                total -= charged[start][1]
                start += 1
            best = max(best, total)
        return best

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    # ----- HTTP entry points -----------------------------------------------------------------------------
    def handle_http(self, verb: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Serve one HTTP request (called from the handler threads)."""
        path = urlsplit(target).path
        if verb == "POST" and path == "/token":
            time.sleep(self.latency)
            return self._token(body)
        with self._lock:
            if self.max_concurrent is not None and self._in_flight >= self.max_concurrent:
                return self._refuse_concurrent(target)
            self._in_flight += 1
            delay = self.latency + (self._random.uniform(0, self.latency_jitter) if self.latency_jitter else 0.0)
        try:
            if verb == "POST" and path == "/batch/gmail/v1":
                return self._batch(headers, body, delay)
            time.sleep(delay)  # inside: a slow request occupies a concurrency slot
            return self.api_call(verb, target, headers)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _refuse_concurrent(self, target: str, *, in_batch: bool = False) -> Reply:
        path = urlsplit(target).path
        method = "batch" if path == "/batch/gmail/v1" else route(path)[0]
        cost = self.costs.get(method, 0)
        self._log(RequestRecord(time.monotonic(), method, 429, 0, cost, in_batch, "rateLimitExceeded", target))
        return google_error(429, "rateLimitExceeded", "Too many concurrent requests for user")

    def _token(self, body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        refresh = form.get("refresh_token", "")
        with self._lock:
            known = form.get("grant_type") == "refresh_token" and refresh in self._refresh_tokens
            if known:
                access = "ya29.fake-" + secrets.token_urlsafe(16)
                self._access_tokens[access] = refresh
        status = 200 if known else 400
        self._log(RequestRecord(time.monotonic(), "token", status, 0, 0))
        if not known:
            error = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return json_reply(400, error)
        scope = form.get("scope", "https://www.googleapis.com/auth/gmail.readonly")
        return json_reply(200, {"access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer"})

    def _batch(self, headers: dict[str, str], body: bytes, delay: float) -> Reply:
        """Parts served in order after `delay`; with `concurrent_parts` they hold their slots all along."""
        now = time.monotonic()
        try:
            parts = parse_batch(headers.get("content-type", ""), body)
        except ValueError as exc:
            self._log(RequestRecord(now, "batch", 400, 0, 0))
            return google_error(400, "badRequest", str(exc))
        if len(parts) > 100:
            self._log(RequestRecord(now, "batch", 400, 0, 0))
            return google_error(400, "badRequest", "Too many requests in batch (limit is 100).")
        self._log(RequestRecord(now, "batch", 200, 0, 0))
        outer_auth = {k: v for k, v in headers.items() if k == "authorization"}
        admitted, held = self._admit_parts(len(parts))
        try:
            time.sleep(delay)
            replies = [
                (cid, self.api_call(p.verb, p.target, {**outer_auth, **p.headers}, True))
                if index < admitted
                else (cid, self._refuse_concurrent(p.target, in_batch=True))
                for index, (cid, p) in enumerate(parts)
            ]
        finally:
            with self._lock:
                self._in_flight -= held
        content_type, payload = render_batch(replies)
        return Reply(200, payload, {"Content-Type": content_type})

    def _admit_parts(self, count: int) -> tuple[int, int]:
        """With `concurrent_parts`, each part holds a concurrency slot while the batch is served (the batch's
        own slot is its first part's): (parts admitted, slots taken for them); the rest are refused as too
        many at once."""
        if not self.concurrent_parts or self.max_concurrent is None:
            return count, 0
        with self._lock:
            extra = max(0, min(count - 1, self.max_concurrent - self._in_flight))
            self._in_flight += extra
            return extra + 1, extra

    # ----- one API call ----------------------------------------------------------------------------------
    def api_call(self, verb: str, target: str, headers: dict[str, str], in_batch: bool = False) -> Reply:
        """Auth, faults, quota, then the method itself; logged as one `RequestRecord`."""
        now = time.monotonic()
        split = urlsplit(target)
        method, params = route(split.path)
        if self.before_call is not None:
            self.before_call(method, target)
        cost = self.costs.get(method, 0)
        reply, charged = self._admit(method, cost, headers, now)
        if reply is None:
            query = {k: v for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            reply = self._serve(verb, method, params, query)
        units = cost if charged else 0
        self._log(RequestRecord(now, method, reply.status, units, cost, in_batch, _reason(reply), target))
        return reply

    def _admit(self, method: str, cost: int, headers: dict[str, str], now: float) -> tuple[Reply | None, bool]:
        """Refuse the call (reply, charged=False) or let it through (None, charged=True)."""
        if method == "unknown":
            return google_error(404, "notFound", "Not Found"), False
        if self.require_auth and not self._authorized(headers.get("authorization", "")):
            message = "Request had invalid authentication credentials. Expected OAuth 2 access token."
            return google_error(401, "authError", message), False
        fault = self._take_fault(method)
        if fault is not None:
            reply = google_error(fault.status, fault.reason)
            if fault.retry_after is not None:
                reply.headers["Retry-After"] = str(math.ceil(fault.retry_after))
            return reply, False
        refused = self._charge(cost, now)
        return refused, refused is None

    def _authorized(self, header: str) -> bool:
        token = header[7:] if header.lower().startswith("bearer ") else ""
        with self._lock:
            return token in self._access_tokens

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            if self._storm[2] == method:
                self._start_storm()
            if time.monotonic() < self._storm_until:
                return _Fault(self._storm_status, DEFAULT_REASONS.get(self._storm_status, "unknown"), None, None)
            for index, fault in enumerate(self._faults):
                if fault.method in (None, method):
                    if fault.after:
                        fault.after -= 1
                        return None
                    del self._faults[index]
                    return fault
            if self.error_rate and self._random.random() < self.error_rate:
                return _Fault(self.error_status, DEFAULT_REASONS.get(self.error_status, "backendError"), None, None)
        return None

    def _charge(self, cost: int, now: float) -> Reply | None:
        """Charge `cost` units under the quota model; a refused call is not charged (logged with units=0)."""
        if self.quota_units_per_minute is None:
            return None
        with self._lock:
            wait = self._window_wait(cost, now) if self.quota_model == "window" else self._bucket_wait(cost, now)
        if wait is None:
            return None
        status, reason = self.quota_refusal
        reply = google_error(
            status, reason, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'"
        )
        if self.retry_after_header:
            reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return reply

    def _window_wait(self, cost: int, now: float) -> float | None:
        """Sliding 60 s window: None (charged) or the seconds until enough units leave the window."""
        assert self.quota_units_per_minute is not None
        while self._charged and self._charged[0][0] <= now - 60:
            self._charged.popleft()
        used = sum(units for _, units in self._charged)
        allowed = self.quota_units_per_minute * self.quota_share
        if used + cost <= allowed:
            self._charged.append((now, cost))
            return None
        return self._seconds_until_free(math.ceil(used + cost - allowed), now)

    def _bucket_wait(self, cost: int, now: float) -> float | None:
        """Token bucket holding `burst_seconds` of quota: None (charged) or the seconds until `cost` tokens."""
        assert self.quota_units_per_minute is not None
        rate = self.quota_units_per_minute * self.quota_share / 60.0
        size = max(float(cost), rate * self.burst_seconds)
        tokens, at = self._bucket or (size, now)
        tokens = min(size, tokens + (now - at) * rate)
        if tokens >= cost:
            self._bucket = (tokens - cost, now)
            return None
        self._bucket = (tokens, now)
        return (cost - tokens) / rate

    def _seconds_until_free(self, excess: int, now: float) -> float:
        freed = 0
        for at, units in self._charged:
            freed += units
            if freed >= excess:
                return at + 60 - now
        return 60.0

    # ----- the Gmail methods -----------------------------------------------------------------------------
    def _serve(self, verb: str, method: str, params: dict[str, str], query: dict[str, list[str]]) -> Reply:
        if verb != "GET":
            return google_error(405, "methodNotAllowed", "Method not allowed")
        if params.get("user") not in ("me", self.address):
            return google_error(403, "forbidden", "Delegation denied")
        handlers = {
            "getProfile": lambda: self._profile(),
            "messages.list": lambda: self._list(query),
            "messages.get": lambda: self._get(params["id"], query),
            "attachments.get": lambda: self._attachment(params["id"], params["att"]),
            "history.list": lambda: self._history_list(query),
        }
        return handlers[method]()

    def _profile(self) -> Reply:
        with self._lock:
            data = {
                "emailAddress": self.address,
                "messagesTotal": len(self._messages),
                "threadsTotal": len({m.thread_id for m in self._messages.values()}),
                "historyId": str(self._history_id),
            }
        return json_reply(200, data)

    def _list(self, query: dict[str, list[str]]) -> Reply:
        q = _one(query, "q") or ""
        spam = (_one(query, "includeSpamTrash") or "false").lower() == "true"
        labels = tuple(query.get("labelIds", []))
        size = min(int(_one(query, "maxResults") or 100), 500)
        offset = int(_one(query, "pageToken") or 0)
        with self._lock:
            ids = self._matching(q, spam, labels)
            page = [{"id": i, "threadId": self._messages[i].thread_id} for i in ids[offset : offset + size]]
        data: dict[str, object] = {"resultSizeEstimate": len(ids)}
        if page:
            data["messages"] = page
        if offset + size < len(ids):
            data["nextPageToken"] = str(offset + size)
        return json_reply(200, data)

    def _matching(self, q: str, spam: bool, labels: tuple[str, ...]) -> list[str]:
        key = (q, spam, labels)
        if key not in self._list_cache:
            predicate = parse_query(q) if q.strip() else None

            def keep(m: _Stored) -> bool:
                if not spam and {"SPAM", "TRASH"} & set(m.labels):
                    return False
                if labels and not set(labels) <= set(m.labels):
                    return False
                return predicate is None or predicate(self._fields(m))

            self._list_cache[key] = self._sorted_ids(keep)
        return self._list_cache[key]

    def _sorted_ids(self, keep: Callable[[_Stored], bool]) -> list[str]:
        chosen = [m for m in self._messages.values() if keep(m)]
        chosen.sort(key=lambda m: (m.internal_ms, m.id), reverse=True)
        return [m.id for m in chosen]

    def _fields(self, stored: _Stored) -> SearchFields:
        if stored.fields is None:
            stored.fields = payloads.search_fields(stored.raw, frozenset(stored.labels), stored.internal_ms)
        return stored.fields

    def _get(self, message_id: str, query: dict[str, list[str]]) -> Reply:
        stored = self._messages.get(message_id)
        if stored is None:
            return google_error(404, "notFound", "Requested entity was not found.")
        fmt = (_one(query, "format") or "full").lower()
        data: dict[str, object] = {
            "id": stored.id,
            "threadId": stored.thread_id,
            "labelIds": list(stored.labels),
            "historyId": str(stored.history_id),
            "internalDate": str(stored.internal_ms),
            "sizeEstimate": len(stored.raw),
        }
        if fmt == "raw":
            data["raw"] = payloads.b64url(stored.raw)
        if fmt != "minimal":
            msg = payloads.parse(stored.raw)
            data["snippet"] = payloads.snippet(msg)
            if fmt == "full":
                data["payload"] = payloads.payload_tree(msg, stored.id, self.inline_part_limit)
            elif fmt == "metadata":
                data["payload"] = payloads.metadata_payload(msg, query.get("metadataHeaders", []))
        return json_reply(200, data)

    def _attachment(self, message_id: str, attachment: str) -> Reply:
        stored = self._messages.get(message_id)
        part_id = payloads.part_id_of(attachment)
        data = payloads.attachment_bytes(stored.raw, part_id) if stored and part_id is not None else None
        if data is None:
            return google_error(404, "notFound", "Requested entity was not found.")
        return json_reply(200, {"attachmentId": attachment, "size": len(data), "data": payloads.b64url(data)})

    def _history_list(self, query: dict[str, list[str]]) -> Reply:
        start_text = _one(query, "startHistoryId")
        if not start_text or not start_text.isdigit():
            return google_error(400, "invalidArgument", "Invalid startHistoryId")
        start = int(start_text)
        types = set(query.get("historyTypes", [])) or {"messageAdded", "messageDeleted"}
        size = min(int(_one(query, "maxResults") or 100), 500)
        offset = int(_one(query, "pageToken") or 0)
        with self._lock:
            if start < self._oldest_history_id:
                return google_error(404, "notFound", "Requested entity was not found.")
            records = [r for r in self._history if r[0] > start and r[1] in types]
            data: dict[str, object] = {"historyId": str(self._history_id)}
            if records[offset : offset + size]:
                data["history"] = [self._history_record(r) for r in records[offset : offset + size]]
        if offset + size < len(records):
            data["nextPageToken"] = str(offset + size)
        return json_reply(200, data)

    def _history_record(self, record: tuple[int, str, str]) -> dict[str, object]:
        history_id, kind, message_id = record
        stored = self._messages.get(message_id)
        ref: dict[str, object] = {"id": message_id, "threadId": stored.thread_id if stored else message_id}
        if stored is not None:
            ref["labelIds"] = list(stored.labels)
        key = "messagesAdded" if kind == "messageAdded" else "messagesDeleted"
        messages = [{"id": message_id, "threadId": ref["threadId"]}]
        return {"id": str(history_id), "messages": messages, key: [{"message": ref}]}


def route(path: str) -> tuple[str, dict[str, str]]:
    for name, pattern in ROUTES:
        match = pattern.match(path)
        if match:
            return name, {k: unquote(v) for k, v in match.groupdict().items()}
    return "unknown", {}


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _reason(reply: Reply) -> str | None:
    if reply.status < 400:
        return None
    try:
        return json.loads(reply.body)["error"]["errors"][0]["reason"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive transport around `FakeGmailServer.handle_http`."""

    protocol_version = "HTTP/1.1"
    gmail: FakeGmailServer

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def _respond(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if headers.get("x-http-method-override"):  # googleapiclient turns long GETs into POSTs
            verb, target = headers["x-http-method-override"], f"{self.path}?{body.decode()}"
        else:
            target = self.path
        reply = self.gmail.handle_http(verb, target, headers, body)
        cut = self.gmail.take_cut() if target.startswith(("/gmail/", "/batch/")) else None
        if cut == "reset":  # the work was done (and charged), the answer never comes: RST, not FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if cut == "stall":
            time.sleep(self.gmail.stall_seconds)
        try:
            self._write(reply, truncate=cut == "truncate")
        except OSError:  # the client gave up (a stalled answer): nothing to answer any more
            self.close_connection = True

    def _write(self, reply: Reply, *, truncate: bool) -> None:
        self.send_response(reply.status)
        for name, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:  # headers promise the whole body; half of it arrives, then the connection ends
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return
