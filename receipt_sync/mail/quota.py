"""Spending Gmail's quota at its ceiling without bouncing off it (see ../shared/GMAIL.md, "Quotas").

- `MailboxQuota`: one per mailbox per process, shared by every task and thread of a run. A sliding 60 s
  window of units (the way Gmail documents it) is the hard limit; a token bucket paces spending so it is
  spread over the minute; at most `max_in_flight` requests are on the wire; a 429/403 rate-limit answer sets
  a pause every thread respects (Retry-After, else exponential back-off with jitter, capped), so a refusal
  slows the whole mailbox down once instead of causing a storm of retries. A request's units count from the
  moment they are reserved until 60 s after its answer arrived: Gmail charges somewhere in between, so no
  60 s window of Gmail's holds more than the quota.
  Google states no burst size, and a server may enforce the quota as a per-second bucket, so the limiter
  learns the shape the server accepts (AIMD, like TCP's congestion window): the documented quota stays the
  ceiling of the rate; a rate-limit answer halves the burst (the bucket's size, in seconds of quota), and
  once the burst is at its floor, cuts the rate; a "too many concurrent requests" answer lowers the
  in-flight cap. Successful answers grow them back: quickly up to 3/4 of the burst that was refused last,
  slowly above it. Batches are sized to the learned burst (`batch_limit`).
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
PACING_BURST_SECONDS = 0.5  # the burst the limiter starts with (seconds of quota), probing upwards slowly
MAX_BURST_SECONDS = 2.0
MIN_BURST_SECONDS = 0.1
FAST_GROWTH_SECONDS = 0.1  # burst regained per successful answer below 3/4 of the last refused burst
SLOW_GROWTH_SECONDS = 0.003  # ... and above it, where the server's limit was met
CUT_GUARD_SECONDS = 2.0  # refusals within this of a cut answer requests sent before it: no second cut
MIN_RATE_SHARE = 0.25  # the learned rate never drops below this share of the documented ceiling
RATE_CUT = 0.8
RATE_GROWTH_SHARE = 0.01  # of the ceiling, per successful answer
IN_FLIGHT_GROWTH_EVERY = 20  # successful answers before one more request may be in flight again


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
        # Pacing: a token bucket refilled at the learned rate (at most the quota's average), so the quota is
        # spent evenly over the minute instead of in one burst followed by a stall (the window stays the hard
        # limit). Its size is the learned burst.
        self._ceiling = units_per_minute / window
        self._rate = self._ceiling
        self._burst = PACING_BURST_SECONDS
        self._refused_burst = PACING_BURST_SECONDS  # the burst in use at the last refusal
        self._cut_at = -1e9  # when the shape was last cut (one cut per burst of refusals)
        self._in_flight_cap = max_in_flight
        self._successes = 0
        self._bucket_size = max(1.0, self._rate * self._burst)
        self._tokens = self._bucket_size
        self._refilled_at = clock()

    def batch_limit(self, cost: int) -> int:
        """The most requests of `cost` one batch may carry: the learned burst, so a batch never waits long for
        its units and never arrives as a burst the server refuses."""
        with self._cond:
            return max(1, int(self._bucket_size) // cost)

    def shape(self) -> dict[str, float]:
        """What the limiter has learned of the server: burst (s), rate (share of the ceiling), in-flight cap."""
        with self._cond:
            return {
                "burst_seconds": round(self._burst, 3),
                "rate_share": round(self._rate / self._ceiling, 3),
                "max_in_flight": self._in_flight_cap,
                "rate_limited_answers": self.rate_limited_answers,
            }

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

    def rate_limited(self, retry_after: float | None = None, *, concurrent: bool = False) -> float:
        """Gmail refused a request for rate (or for too many requests at once): learn from it, and pause every
        thread of this mailbox; returns the pause."""
        with self._cond:
            self._refusals += 1
            self.rate_limited_answers += 1
            self._learn_refusal(concurrent)
            backoff = random.uniform(0.5, 1.0) * BASE_PAUSE_SECONDS * 2 ** min(self._refusals - 1, 6)
            # Gmail's Retry-After when it gives one: the limiter already slows down by learning, and a
            # refused message may be sent alone many times while it learns (growing pauses would add up).
            pause = min(backoff if retry_after is None else retry_after, MAX_PAUSE_SECONDS)
            self._paused_until = max(self._paused_until, self._clock() + pause)
            self._cond.notify_all()
            return pause

    def succeeded(self) -> None:
        """An answer came back without a rate-limit refusal: the back-off starts small again, the shape grows."""
        with self._cond:
            self._refusals = 0
            self._successes += 1
            step = FAST_GROWTH_SECONDS if self._burst < 0.75 * self._refused_burst else SLOW_GROWTH_SECONDS
            self._set_shape(min(MAX_BURST_SECONDS, self._burst + step), self._rate + RATE_GROWTH_SHARE * self._ceiling)
            if self._successes % IN_FLIGHT_GROWTH_EVERY == 0:
                self._in_flight_cap = min(self.max_in_flight, self._in_flight_cap + 1)

    def _learn_refusal(self, concurrent: bool) -> None:
        """Multiplicative decrease, once per burst of refusals (answers to requests sent before the cut)."""
        now = self._clock()
        if now - self._cut_at < CUT_GUARD_SECONDS:
            return
        self._cut_at = now
        if concurrent:
            self._in_flight_cap = max(1, self._in_flight_cap - 1)
        elif self._burst > MIN_BURST_SECONDS:
            self._refused_burst = self._burst
            self._set_shape(max(MIN_BURST_SECONDS, self._burst / 2), self._rate)
        else:
            self._set_shape(self._burst, max(MIN_RATE_SHARE * self._ceiling, self._rate * RATE_CUT))

    def _set_shape(self, burst: float, rate: float) -> None:
        self._burst, self._rate = burst, min(rate, self._ceiling)
        self._bucket_size = max(1.0, self._rate * self._burst)
        self._tokens = min(self._tokens, self._bucket_size)

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
        if self._in_flight >= self._in_flight_cap:
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

    def rate_limited(self, retry_after: float | None = None, *, concurrent: bool = False) -> float:
        return 0.0  # no shared pause: the caller backs off itself

    def succeeded(self) -> None:
        return None


def as_quota(limiter: MailboxQuota | AcquireOnly | None) -> MailboxQuota | _PerCallLimiter:
    """`limiter` itself when it is a `MailboxQuota`, else an adapter asking it per call."""
    return limiter if isinstance(limiter, MailboxQuota) else _PerCallLimiter(limiter)
