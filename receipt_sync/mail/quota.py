"""Spending Gmail's quota at its ceiling without bouncing off it (see ../shared/GMAIL.md, "Quotas").

- `MailboxQuota`: one per mailbox per process, shared by every task and thread of a run. A sliding 60 s
  window of units (the way Gmail documents it) is the hard limit; a token bucket paces spending so it is
  spread over the minute; a bounded number of requests (and of batch parts) is on the wire; a 429/403
  rate-limit answer sets a pause every thread respects (Retry-After, else exponential back-off with jitter,
  capped), so a refusal slows the whole mailbox down once instead of causing a storm of retries. A request's
  units count from the moment they are reserved until 60 s after its answer arrived: Gmail charges somewhere
  in between, so no 60 s window of Gmail's holds more than the quota.
- Google states no burst size and a server may enforce the quota as a per-second bucket, a per-minute one,
  a window, at a rate below the documented one, or count a batch's parts as concurrent requests; so the
  limiter learns the shape the server accepts, one `Learned` dimension each (burst, rate, requests in
  flight, batch parts in flight), AIMD as TCP's congestion window does. The documented quota stays the
  ceiling. A refusal cuts the dimension it points at: a quota refusal the burst (to 0.8 of what the server
  served before refusing, when a batch tells it), then the rate once the burst is down to one request's
  units (to 0.95 of the rate the server was seen accepting, when that is below ours); "too many concurrent
  requests" the requests in flight, or, for parts of a batch, the parts in flight (to an upper bound of the
  server's cap that every such answer tightens). Successful answers grow each back, quickly to 3/4 of what
  was refused and slowly above, but not back to it for `MEMORY_SECONDS` (a limiter that returns to the shape
  just refused is refused again, periodically); after that it probes upwards slowly. A batch's size is
  decided when its units are granted (`spend_batch`). Worst cases: one cut of burst or rate per
  `CUT_GUARD_SECONDS` while refusals last, and one refusal per dimension per `MEMORY_SECONDS` once learned.
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
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECONDS = 60.0
MAX_PAUSE_SECONDS = 32.0
BASE_PAUSE_SECONDS = 1.0
START_BURST_SECONDS = 0.25  # the burst the limiter starts with (seconds of quota): below any bucket seen so far
MAX_BURST_SECONDS = 2.0
MIN_BURST_SECONDS = 0.02  # at the floor the limiter sends strictly paced, one request's units at a time
MEMORY_SECONDS = 300.0  # how long a refused value is remembered (not grown back to)
HOLD_SHARE = 0.9  # ... growth stops at this share of it while remembered (the rate: RATE_HOLD_SHARE)
RATE_HOLD_SHARE = 0.97
FAST_SHARE = 0.75  # below this share of the refused value growth is fast
CUT_GUARD_SECONDS = 2.0  # refusals within this of a cut answer requests sent before it: no second cut
MIN_RATE_SHARE = 0.25  # the learned rate never drops below this share of the documented ceiling
RATE_CUT = 0.8
SERVED_SHARE = 0.8  # a refusal after the server served U units of a burst: the burst becomes 0.8 U
MEASURE_SECONDS = 10.0  # the accepted rate is trusted once measured over at least this long
MAX_PARTS = 100  # Gmail's batch limit


@dataclass
class Learned:
    """One dimension of the server's shape: cut on a refusal, grown back on success, held below what was
    refused for `MEMORY_SECONDS`."""

    value: float
    floor: float
    top: float
    fast: float  # growth per successful answer below FAST_SHARE of the refused value
    slow: float  # ... and above it (probing for more)
    hold: float = HOLD_SHARE
    refused: float = 0.0  # what was in use when the server last refused
    refused_at: float = -1e9

    def cut(self, to: float, now: float, in_use: float | None = None) -> None:
        """The server refused while `in_use` (default: the value) was in use: down to `to`."""
        self.refused, self.refused_at = self.value if in_use is None else min(self.value, in_use), now
        self.value = max(self.floor, min(self.value, to))

    def grow(self, now: float) -> None:
        limit, step = self.top, self.slow
        if now - self.refused_at < MEMORY_SECONDS:
            limit = min(limit, max(self.floor, self.hold * self.refused))
            step = self.fast if self.value < FAST_SHARE * self.refused else self.slow
        if self.value < limit:
            self.value = min(limit, self.value + step)


class UnitSource(Protocol):
    """Something that hands out quota units, blocking until it can (the project quota)."""

    def take(self, units: int) -> None: ...


class MailboxQuota:
    """Per-mailbox Gmail quota: sliding-window units, bounded requests in flight, shared rate-limit pause, and
    the server's shape learned from its answers."""

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
        self._accepted: deque[tuple[float, int]] = deque()  # (answer time, units the server served)
        self._accepted_units = 0
        self._started_at: float | None = None
        self._pending = 0  # units reserved by requests still on the wire
        self._in_flight = 0
        self._parts_in_flight = 0
        self._sent = threading.local()  # per thread: parts others had on the wire when its request went
        self._part_units = 1.0  # the units of one request (one batch part): a burst below it is strict pacing
        self._paused_until = 0.0
        self._refusals = 0  # consecutive rate-limit answers, for the back-off
        self._cut_at = -1e9
        self.units_reserved = 0
        self.rate_limited_answers = 0
        # Pacing: a token bucket refilled at the learned rate (at most the quota's average), so the quota is
        # spent evenly over the minute instead of in one burst followed by a stall (the window stays the hard
        # limit). Its size is the learned burst.
        self._ceiling = units_per_minute / window
        self.burst = Learned(START_BURST_SECONDS, MIN_BURST_SECONDS, MAX_BURST_SECONDS, fast=0.05, slow=0.003)
        self.rate = Learned(self._ceiling, MIN_RATE_SHARE * self._ceiling, self._ceiling,
                            fast=0.01 * self._ceiling, slow=0.002 * self._ceiling, hold=RATE_HOLD_SHARE)  # fmt: skip
        # A concurrency refusal tells the cap itself (what was answered): held at it while remembered.
        self.requests = Learned(max_in_flight, 1, max_in_flight, fast=0.05, slow=0.02, hold=1.0)
        self.parts = Learned(MAX_PARTS * max_in_flight, 1, MAX_PARTS * max_in_flight, fast=1.0, slow=0.2, hold=1.0)
        self._tokens = self._bucket_size
        self._refilled_at = clock()

    @property
    def _bucket_size(self) -> float:
        return max(1.0, self.rate.value * self.burst.value)

    def batch_limit(self, cost: int) -> int:
        """The most requests of `cost` one batch may carry: the learned burst, so a batch never waits long for
        its units and never arrives as a burst the server refuses, and the parts it lets be on the wire."""
        with self._cond:
            return self._batch_limit(cost)

    def _batch_limit(self, cost: int) -> int:
        return max(1, min(int(self._bucket_size) // cost, int(self.parts.value), MAX_PARTS))

    @contextmanager
    def spend_batch(self, cost: int, wanted: int) -> Iterator[int]:
        """Like `spend`, for a batch of up to `wanted` requests of `cost`: yields how many it may carry, decided
        when its units are granted (a size chosen before a wait would miss what a refusal taught meanwhile)."""
        with self._cond:
            while True:
                parts = min(wanted, self._batch_limit(cost))
                units = min(cost * parts, self.units_per_minute)
                wait = self._wait_needed(self._clock(), units, parts)
                if wait <= 0:
                    self._take(units, parts)
                    break
                self._cond.wait(timeout=wait)
        if self._project is not None:
            self._project.take(units)
        try:
            yield parts
        finally:
            self._settle(units, parts)

    def shape(self) -> dict[str, float]:
        """What the limiter has learned of the server: burst (s), rate (share of the ceiling), caps in flight."""
        with self._cond:
            return {
                "burst_seconds": round(self.burst.value, 3),
                "rate_share": round(self.rate.value / self._ceiling, 3),
                "max_in_flight": int(self.requests.value),
                "max_parts_in_flight": int(self.parts.value),
                "rate_limited_answers": self.rate_limited_answers,
            }

    @contextmanager
    def spend(self, units: int, parts: int = 1) -> Iterator[None]:
        """Wait for `units` of quota and an in-flight slot; hold them while the request is on the wire."""
        units = min(units, self.units_per_minute)
        self._reserve(units, parts)
        if self._project is not None:
            self._project.take(units)
        try:
            yield
        finally:
            self._settle(units, parts)

    def rate_limited(
        self,
        retry_after: float | None = None,
        *,
        concurrent: bool = False,
        units_served: int = 0,
        parts_served: int = 0,
    ) -> float:
        """Gmail refused a request for rate (or for too many requests at once), after serving `units_served`
        units / `parts_served` parts of the same batch: learn from it, and pause every thread of this mailbox;
        returns the pause."""
        with self._cond:
            now = self._clock()
            self._refusals += 1
            self.rate_limited_answers += 1
            self._note_accepted(units_served, now)
            if concurrent and parts_served:  # parts of a batch refused: the server counts parts, and had
                # room for `parts_served` of ours beside at most what we had on the wire: an upper bound of its
                # cap, so every such answer may tighten it
                bound = getattr(self._sent, "others", 0) + parts_served
                self.parts.cut(bound, now, in_use=min(self.parts.value, bound))
            elif now - self._cut_at >= CUT_GUARD_SECONDS:  # one cut per burst of refusals
                self._cut_at = now
                self._learn(concurrent, units_served, parts_served, now)
            # Too many at once is mended by sending fewer at once (learned), not by waiting ever longer.
            doubling = 0 if concurrent else min(self._refusals - 1, 6)
            backoff = random.uniform(0.5, 1.0) * BASE_PAUSE_SECONDS * 2**doubling
            # Gmail's Retry-After when it gives one: the limiter already slows down by learning, and a
            # refused message may be sent alone many times while it learns (growing pauses would add up).
            pause = min(backoff if retry_after is None else retry_after, MAX_PAUSE_SECONDS)
            self._paused_until = max(self._paused_until, now + pause)
            self._cond.notify_all()
            return pause

    def succeeded(self, units: int = 0) -> None:
        """An answer came back without a rate-limit refusal (the server served `units`): the back-off starts
        small again, the shape grows."""
        with self._cond:
            now = self._clock()
            self._refusals = 0
            self._note_accepted(units, now)
            for learned in (self.burst, self.rate, self.requests, self.parts):
                learned.grow(now)
            self._tokens = min(self._tokens, self._bucket_size)

    def _learn(self, concurrent: bool, units_served: int, parts_served: int, now: float) -> None:
        """Multiplicative decrease of the dimension the refusal points at."""
        # A burst smaller than one request's units already means strictly paced: no use going below it.
        burst_floor = max(MIN_BURST_SECONDS, self._part_units / self.rate.value)
        if concurrent:  # this one is no longer in flight: the others are what fits
            self.requests.cut(max(1, self._in_flight), now, in_use=max(1, self._in_flight))
        elif self.burst.value > 1.5 * burst_floor:  # (grown a little since it was cut to the floor: still there)
            served = units_served / self.rate.value if units_served else self.burst.value
            self.burst.cut(max(burst_floor, min(self.burst.value / 2, SERVED_SHARE * served)), now)
        else:
            self.burst.cut(burst_floor, now)
            measured = self._accepted_rate(now)
            target = self.rate.value * RATE_CUT
            if measured is not None and measured < 0.9 * self.rate.value:
                target = min(target, 0.95 * measured)  # the server accepts less than the documented rate
            self.rate.cut(target, now)
        self._tokens = min(self._tokens, self._bucket_size)

    def _note_accepted(self, units: int, now: float) -> None:
        if self._started_at is None:
            self._started_at = now
        if units:
            self._accepted.append((now, units))
            self._accepted_units += units
        while self._accepted and self._accepted[0][0] <= now - self._window:
            self._accepted_units -= self._accepted.popleft()[1]

    def _accepted_rate(self, now: float) -> float | None:
        """Units a second the server served lately, when measured long enough to mean something."""
        span = min(self._window, now - (self._started_at or now))
        return self._accepted_units / span if span >= MEASURE_SECONDS else None

    def units_in_window(self) -> int:
        """Units that may still count in Gmail's current window (answered in the last 60 s, or on the wire)."""
        with self._cond:
            self._expire(self._clock())
            return self._settled_units + self._pending

    # ----- internals ----------------------------------------------------------------------------------
    def _reserve(self, units: int, parts: int) -> None:
        with self._cond:
            while (wait := self._wait_needed(self._clock(), units, parts)) > 0:
                self._cond.wait(timeout=wait)
            self._take(units, parts)

    def _take(self, units: int, parts: int) -> None:
        """Reserve for a request let go now (lock held)."""
        self._sent.others = self._parts_in_flight
        self._part_units = units / max(1, parts)
        self._pending += units
        self._in_flight += 1
        self._parts_in_flight += parts
        self.units_reserved += units

    def _wait_needed(self, now: float, units: int, parts: int = 1) -> float:
        """Seconds until `units` may be spent (0: now). Called with the lock held."""
        if now < self._paused_until:
            return self._paused_until - now
        busy = self._in_flight >= int(self.requests.value)
        if busy or (self._in_flight and self._parts_in_flight + parts > int(self.parts.value)):
            return 0.5  # woken earlier by a settling request
        self._expire(now)
        excess = self._settled_units + self._pending + units - self.units_per_minute
        if excess > 0:
            return self._seconds_until_freed(excess, now)
        return self._pace(now, units)

    def _pace(self, now: float, units: int) -> float:
        """0 and take the tokens when the bucket allows `units` (a big request may run it into debt)."""
        size, rate = self._bucket_size, self.rate.value
        self._tokens = min(size, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        needed = min(float(units), size)
        if self._tokens >= needed:
            self._tokens -= units
            return 0.0
        return (needed - self._tokens) / rate

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

    def _settle(self, units: int, parts: int) -> None:
        with self._cond:
            self._pending -= units
            self._in_flight -= 1
            self._parts_in_flight -= parts
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
        return MAX_PARTS

    @contextmanager
    def spend(self, units: int, parts: int = 1) -> Iterator[None]:
        if self._limiter is not None:
            for _ in range(parts):
                self._limiter.acquire(units // parts)
        yield

    @contextmanager
    def spend_batch(self, cost: int, wanted: int) -> Iterator[int]:
        parts = min(wanted, MAX_PARTS)
        with self.spend(cost * parts, parts):
            yield parts

    def rate_limited(
        self,
        retry_after: float | None = None,
        *,
        concurrent: bool = False,
        units_served: int = 0,
        parts_served: int = 0,
    ) -> float:
        return 0.0  # no shared pause: the caller backs off itself

    def succeeded(self, units: int = 0) -> None:
        return None


def as_quota(limiter: MailboxQuota | AcquireOnly | None) -> MailboxQuota | _PerCallLimiter:
    """`limiter` itself when it is a `MailboxQuota`, else an adapter asking it per call."""
    return limiter if isinstance(limiter, MailboxQuota) else _PerCallLimiter(limiter)
