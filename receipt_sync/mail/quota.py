"""Spending Gmail's quota at its ceiling without bouncing off it (see ../shared/GMAIL.md, "Quotas").

- `MailboxQuota`: one per mailbox per process, shared by every task and thread of a run. A sliding 60 s
  window of units (the way Gmail counts) is the hard limit; a token bucket paces spending at the quota's
  average rate (2 s of burst) so it is spread over the minute; at most `max_in_flight` requests are on the
  wire; a 429/403 rate-limit answer sets a pause every thread respects (Retry-After, else exponential
  back-off with jitter, capped), so a refusal slows the whole mailbox down once instead of causing a storm
  of retries. A request's units count from the moment they are reserved until 60 s after its answer
  arrived: Gmail charges somewhere in between, so no 60 s window of Gmail's holds more than the quota.
- `UnitSource`: the project-wide quota a `MailboxQuota` also draws from; the Prefect-backed one lives in
  `services/project_quota.py`, so this package imports no Prefect.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

WINDOW_SECONDS = 60.0
MAX_PAUSE_SECONDS = 32.0
BASE_PAUSE_SECONDS = 1.0
PACING_BURST_SECONDS = 2.0


class UnitSource(Protocol):
    """Something that hands out quota units, blocking until it can (the project quota)."""

    def take(self, units: int) -> None: ...


class MailboxQuota:
    """Per-mailbox Gmail quota: sliding-window units, bounded in-flight requests, shared rate-limit pause."""

    def __init__(
        self,
        units_per_minute: int,
        max_in_flight: int = 5,
        *,
        project: UnitSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.units_per_minute = units_per_minute
        self.max_in_flight = max_in_flight
        self._project = project
        self._clock, self._window = clock, window
        self._cond = threading.Condition()
        self._settled: deque[tuple[float, int]] = deque()  # (answer time, units)
        self._settled_units = 0
        self._pending = 0  # units reserved by requests still on the wire
        self._in_flight = 0
        self._paused_until = 0.0
        self._refusals = 0  # consecutive rate-limit answers, for the back-off
        self.units_reserved = 0
        self.rate_limited_answers = 0
        # Pacing: a token bucket refilled at the quota's average rate, so the quota is spent evenly over the
        # minute instead of in one burst followed by a stall (the window above stays the hard limit).
        self._rate = units_per_minute / window
        self._bucket_size = max(1.0, self._rate * PACING_BURST_SECONDS)
        self._tokens = self._bucket_size
        self._refilled_at = clock()

    def batch_limit(self, cost: int) -> int:
        """The most requests of `cost` one batch may carry: the pacing burst (2 s of quota), so a batch never
        waits long for its units and answers keep flowing."""
        return max(1, int(self._bucket_size) // cost)

    @contextmanager
    def spend(self, units: int, parts: int = 1) -> Iterator[None]:
        """Wait for `units` of quota and an in-flight slot; hold them while the request is on the wire."""
        units = min(units, self.units_per_minute)
        self._reserve(units)
        if self._project is not None:
            self._project.take(units)
        try:
            yield
        finally:
            self._settle(units)

    def rate_limited(self, retry_after: float | None = None) -> float:
        """Gmail refused a request for rate: pause every thread of this mailbox; returns the pause."""
        with self._cond:
            self._refusals += 1
            self.rate_limited_answers += 1
            backoff = random.uniform(0.5, 1.0) * BASE_PAUSE_SECONDS * 2 ** min(self._refusals - 1, 6)
            pause = min(max(backoff, retry_after or 0.0), MAX_PAUSE_SECONDS)
            self._paused_until = max(self._paused_until, self._clock() + pause)
            self._cond.notify_all()
            return pause

    def succeeded(self) -> None:
        """An answer came back without a rate-limit refusal: the back-off starts small again."""
        with self._cond:
            self._refusals = 0

    def units_in_window(self) -> int:
        """Units that may still count in Gmail's current window (answered in the last 60 s, or on the wire)."""
        with self._cond:
            self._expire(self._clock())
            return self._settled_units + self._pending

    # ----- internals ----------------------------------------------------------------------------------
    def _reserve(self, units: int) -> None:
        with self._cond:
            while True:
                now = self._clock()
                wait = self._wait_needed(now, units)
                if wait <= 0:
                    self._pending += units
                    self._in_flight += 1
                    self.units_reserved += units
                    return
                self._cond.wait(timeout=wait)

    def _wait_needed(self, now: float, units: int) -> float:
        """Seconds until `units` may be spent (0: now). Called with the lock held."""
        if now < self._paused_until:
            return self._paused_until - now
        if self._in_flight >= self.max_in_flight:
            return 0.5  # woken earlier by a settling request
        self._expire(now)
        excess = self._settled_units + self._pending + units - self.units_per_minute
        if excess > 0:
            return self._seconds_until_freed(excess, now)
        return self._pace(now, units)

    def _pace(self, now: float, units: int) -> float:
        """0 and take the tokens when the bucket allows `units` (a big request may run it into debt)."""
        self._tokens = min(self._bucket_size, self._tokens + (now - self._refilled_at) * self._rate)
        self._refilled_at = now
        needed = min(float(units), self._bucket_size)
        if self._tokens >= needed:
            self._tokens -= units
            return 0.0
        return (needed - self._tokens) / self._rate

    def _seconds_until_freed(self, excess: int, now: float) -> float:
        freed = 0
        for at, spent in self._settled:
            freed += spent
            if freed >= excess:
                return max(0.01, at + self._window - now)
        return 0.5  # the rest is on the wire: woken when it settles

    def _expire(self, now: float) -> None:
        while self._settled and self._settled[0][0] <= now - self._window:
            self._settled_units -= self._settled.popleft()[1]

    def _settle(self, units: int) -> None:
        with self._cond:
            self._pending -= units
            self._in_flight -= 1
            self._settled.append((self._clock(), units))
            self._settled_units += units
            self._cond.notify_all()


_mailboxes: dict[str, MailboxQuota] = {}
_registry_lock = threading.Lock()


def mailbox_quota(key: str, units_per_minute: int, max_in_flight: int, project: UnitSource | None) -> MailboxQuota:
    """The process's limiter for mailbox `key`, shared by every run and task that reads it here."""
    with _registry_lock:
        quota = _mailboxes.get(key)
        if quota is None or (quota.units_per_minute, quota.max_in_flight) != (units_per_minute, max_in_flight):
            quota = _mailboxes[key] = MailboxQuota(units_per_minute, max_in_flight, project=project)
        quota._project = project
        return quota


class AcquireOnly(Protocol):
    """The simplest limiter a `GmailSource` accepts: asked for each call's units before the call is made."""

    def acquire(self, units: int) -> None: ...


class _PerCallLimiter:
    """Adapts an `acquire(units)` limiter (or none) to `MailboxQuota`'s interface: no pause, no window."""

    def __init__(self, limiter: AcquireOnly | None) -> None:
        self._limiter = limiter

    def batch_limit(self, cost: int) -> int:
        return 100

    @contextmanager
    def spend(self, units: int, parts: int = 1) -> Iterator[None]:
        if self._limiter is not None:
            for _ in range(parts):
                self._limiter.acquire(units // parts)
        yield

    def rate_limited(self, retry_after: float | None = None) -> float:
        return 0.0  # no shared pause: the caller backs off itself

    def succeeded(self) -> None:
        return None


def as_quota(limiter: MailboxQuota | AcquireOnly | None) -> MailboxQuota | _PerCallLimiter:
    """`limiter` itself when it is a `MailboxQuota`, else an adapter asking it per call."""
    return limiter if isinstance(limiter, MailboxQuota) else _PerCallLimiter(limiter)
