"""The Gmail quota limiter, judged by what the fake Gmail's own request log saw (not by the limiter's counters)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from receipt_sync.mail.base import RawMessage
from receipt_sync.mail.gmail import GmailSource
from receipt_sync.mail.quota import MailboxQuota
from tests.fakes.gmail_server import FakeGmailServer, FakeMessage, RequestRecord
from tests.mail.test_gmail_source import REFRESH_TOKEN, make_mail, settings_for

FETCH_COST = 20


# 200 small messages; the server does not enforce a quota, so any overspending shows in its log.
pytestmark = pytest.mark.gmail(
    messages=lambda: [FakeMessage(make_mail(n)) for n in range(200)], fetch_cost=FETCH_COST, address="user@example.com"
)


def source_with(gmail: FakeGmailServer, quota: MailboxQuota) -> GmailSource:
    settings = settings_for(gmail, gmail_fetch_cost=FETCH_COST, gmail_batch_size=50)
    return GmailSource(REFRESH_TOKEN, settings, limiter=quota, retry_base_seconds=0.05)


def hammer(source: GmailSource, ids: list[str], seconds: float, threads: int = 3) -> None:
    """Several threads fetching (and listing) as fast as the limiter lets them, for `seconds`."""
    deadline = time.monotonic() + seconds

    def work(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            source.fetch_messages([ids[i % len(ids)]])
            if i % 7 == 0:
                source.list_messages(page_token=None, page_size=10)
            i += threads

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, range(threads)))


def max_units(records: list[RequestRecord], seconds: float) -> int:
    charged = sorted((r.time, r.units) for r in records if r.units)
    return max(
        (sum(u for t, u in charged if start <= t < start + seconds) for start, _ in charged),
        default=0,
    )


def test_run_never_spends_more_than_its_quota_in_any_60_second_window(gmail: FakeGmailServer) -> None:
    quota = MailboxQuota(600, max_in_flight=5)
    source = source_with(gmail, quota)
    started = time.monotonic()
    hammer(source, gmail.message_ids, seconds=22)
    elapsed = time.monotonic() - started

    assert gmail.max_units_in_window(60) <= 600
    spent = sum(r.units for r in gmail.requests)
    paced = quota._bucket_size + 600 / 60 * elapsed  # what the limiter may spend in this time
    assert spent >= 0.85 * paced  # at the ceiling, not far under it
    assert not [r for r in gmail.requests if r.status == 429]


def test_window_holds_as_it_rolls_over_many_times(gmail: FakeGmailServer) -> None:
    """A 5-second window of 100 units, so a 20 s run crosses it four times over (the same code as 60 s)."""
    quota = MailboxQuota(100, max_in_flight=5, window=5.0)
    hammer(source_with(gmail, quota), gmail.message_ids, seconds=20)

    assert max_units(gmail.requests, 5.0) <= 100
    assert sum(r.units for r in gmail.requests) >= 0.85 * 100 / 5 * 20


def test_in_flight_requests_per_mailbox_are_bounded(gmail: FakeGmailServer) -> None:
    gmail.latency = 0.2
    gmail.max_concurrent = 2  # answers 429 "too many concurrent requests" beyond two
    quota = MailboxQuota(1_000_000, max_in_flight=2)
    source = source_with(gmail, quota)
    ids = gmail.message_ids[:40]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(source.fetch_messages, [ids[i : i + 5] for i in range(0, 40, 5)]))

    assert all(isinstance(m, RawMessage) for chunk in results for m in chunk)
    assert not [r for r in gmail.requests if r.status == 429]


class RecordingQuota(MailboxQuota):
    """The real limiter, noting (under its own lock, so in their true order) each pause and each request it lets go.

    Timed from the limiter's side, not the server's: on a busy machine a request let go just before the pause
    may reach Gmail a moment after the refusal, which is no knock on a closed door.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.granted: list[float] = []
        self.pauses: list[tuple[float, float]] = []

    def _wait_needed(self, now: float, units: int, parts: int = 1) -> float:
        wait = super()._wait_needed(now, units, parts)
        if wait <= 0:
            self.granted.append(now)
        return wait

    def rate_limited(self, retry_after: float | None = None, **learned: Any) -> float:
        with self._cond:  # re-entrant: the pause starts at the same instant the limiter records
            started = self._clock()
            pause = super().rate_limited(retry_after, **learned)
            self.pauses.append((started, pause))
            return pause


def test_a_rate_limit_answer_pauses_every_thread_for_its_retry_after(gmail: FakeGmailServer) -> None:
    gmail.fail_next(6, status=429, retry_after=1, method="messages.get")
    quota = RecordingQuota(1_000_000, max_in_flight=5)
    source = source_with(gmail, quota)
    ids = gmail.message_ids[:60]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(source.fetch_messages, [ids[i : i + 6] for i in range(0, 60, 6)]))

    assert [m.id for chunk in results for m in chunk] == ids
    assert all(isinstance(m, RawMessage) for chunk in results for m in chunk)
    refused = [r.time for r in gmail.requests if r.status == 429]
    assert quota.pauses and all(pause >= 1 for _, pause in quota.pauses)  # Gmail's Retry-After is honoured
    too_soon = [g for g in quota.granted for t, pause in quota.pauses if t < g < t + pause]
    assert not too_soon  # no thread sent anything while Gmail asked us to wait
    assert len(refused) == 6  # and the refusals did not multiply into a storm


def fetch_all_in_pages(source: GmailSource, ids: list[str], threads: int = 2) -> list[RawMessage]:
    """Like a sync: a few threads, each fetching a page of ids (in batches sized by the limiter)."""
    pages = [ids[i : i + 20] for i in range(0, len(ids), 20)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [m for page in pool.map(source.fetch_messages, pages) for m in page]  # type: ignore[misc]


@pytest.mark.parametrize("burst_seconds", [1.0, 0.5])
def test_limiter_learns_a_per_second_bucket_and_stops_being_refused(
    gmail: FakeGmailServer, burst_seconds: float
) -> None:
    """Gmail enforcing the 2026 regime (6,000 units a minute, 20 a fetch) as a bucket of `burst_seconds`: the
    limiter learns a burst that fits it, sizes its batches to it and fetches everything, rarely refused."""
    gmail.quota_units_per_minute, gmail.quota_model, gmail.burst_seconds = 6000, "bucket", burst_seconds
    gmail.latency = 0.02
    quota = MailboxQuota(6000, max_in_flight=5)
    ids = gmail.message_ids[:60]

    fetched = fetch_all_in_pages(source_with(gmail, quota), ids)

    assert [m.id for m in fetched] == ids and all(m.raw == gmail.raw(m.id) for m in fetched)
    calls = gmail.calls("messages.get")
    assert len([r for r in calls if r.status == 429]) <= 0.1 * len(calls)  # the first ones teach it
    assert quota.batch_limit(FETCH_COST) * FETCH_COST <= max(FETCH_COST, 100 * burst_seconds)  # fits the bucket


def test_too_many_concurrent_requests_lowers_the_in_flight_cap(gmail: FakeGmailServer) -> None:
    gmail.latency, gmail.max_concurrent = 0.1, 2
    quota = MailboxQuota(1_000_000, max_in_flight=5)
    source = source_with(gmail, quota)
    ids = gmail.message_ids[:60]

    fetched = fetch_all_in_pages(source, ids, threads=5)

    assert sorted(m.id for m in fetched) == sorted(ids)
    assert quota.shape()["max_in_flight"] < 5  # learned from "Too many concurrent requests for user"


def test_a_server_counting_batch_parts_teaches_the_parts_in_flight_cap(gmail: FakeGmailServer) -> None:
    """Gmail may count each part of a batch as a concurrent request: the parts over its cap come back 429 "Too
    many concurrent requests" one by one; the limiter learns how many parts may be on the wire, and then the
    server refuses nothing more."""
    gmail.latency, gmail.max_concurrent, gmail.concurrent_parts = 0.05, 10, True
    quota = MailboxQuota(1_000_000, max_in_flight=5)
    ids = gmail.message_ids[:160]

    fetched = fetch_all_in_pages(source_with(gmail, quota), ids, threads=3)

    assert [m.id for m in fetched] == ids and all(isinstance(m, RawMessage) for m in fetched)
    assert quota.shape()["max_parts_in_flight"] <= 10
    calls = [r for r in gmail.calls("messages.get")]
    later = calls[len(calls) // 2 :]
    assert [r for r in calls if r.status == 429] and not [r for r in later if r.status == 429]  # learned, early


@pytest.mark.parametrize(
    ("burst_seconds", "refusal", "retry_after"),
    [(0.1, (429, "rateLimitExceeded"), True), (0.5, (403, "userRateLimitExceeded"), False)],
    ids=["bucket-smaller-than-one-fetch", "403-without-retry-after"],
)
def test_limiter_fits_servers_stricter_than_any_it_was_written_for(
    gmail: FakeGmailServer, burst_seconds: float, refusal: tuple[int, str], retry_after: bool
) -> None:
    """A bucket holding less than one fetch's units (the limiter must send strictly paced), or refusals as 403
    userRateLimitExceeded with no Retry-After: everything is fetched, seldom refused."""
    gmail.quota_units_per_minute, gmail.quota_model, gmail.burst_seconds = 6000, "bucket", burst_seconds
    gmail.quota_refusal, gmail.retry_after_header, gmail.latency = refusal, retry_after, 0.02
    quota = MailboxQuota(6000, max_in_flight=5)
    ids = gmail.message_ids[:60]

    fetched = fetch_all_in_pages(source_with(gmail, quota), ids)

    assert [m.id for m in fetched] == ids and all(m.raw == gmail.raw(m.id) for m in fetched)
    calls = gmail.calls("messages.get")
    assert len([r for r in calls if r.status == refusal[0]]) <= 0.1 * len(calls)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_burst_is_not_grown_back_to_while_remembered_then_probed_again() -> None:
    clock = Clock()
    quota = MailboxQuota(6000, clock=clock)  # 100 units a second
    for _ in range(200):  # no refusal yet: the burst probes upwards slowly
        quota.succeeded(20)
    probed = quota.shape()["burst_seconds"]
    assert probed > 0.25

    quota.rate_limited(1.0)
    assert quota.shape()["burst_seconds"] == pytest.approx(probed / 2, abs=0.001)
    for _ in range(2000):  # many answers within the memory: fast back towards, never up to, the refused burst
        clock.now += 0.1
        quota.succeeded(20)
    assert 0.75 * probed <= quota.shape()["burst_seconds"] <= 0.9 * probed + 0.001

    clock.now += 300
    for _ in range(200):
        quota.succeeded(20)
    assert quota.shape()["burst_seconds"] > probed  # forgotten: probing for more again


def test_a_refusal_after_part_of_a_batch_was_served_sizes_the_burst_to_what_was_served() -> None:
    clock = Clock()
    quota = MailboxQuota(6000, clock=clock)
    for _ in range(300):
        quota.succeeded(20)
    assert quota.shape()["burst_seconds"] > 1.0

    quota.rate_limited(1.0, units_served=40)  # the server's bucket held about 40 units (0.4 s of quota)

    assert quota.shape()["burst_seconds"] == pytest.approx(0.8 * 0.4)
    assert quota.batch_limit(20) == 1  # 32 units: one fetch a batch


def test_a_server_granting_less_than_the_documented_rate_teaches_the_rate() -> None:
    """Refusals go on once the burst is at its floor while the server accepts only 80 units a second of the
    documented 100: the rate is cut to what the server accepts, and held under it while remembered."""
    clock = Clock()
    quota = MailboxQuota(6000, clock=clock)
    for _ in range(400):  # 20 s at 80 units a second
        clock.now += 0.05
        quota.succeeded(4)
    for _ in range(8):
        clock.now += 2.5
        quota.rate_limited(1.0)
    assert quota.shape()["burst_seconds"] == pytest.approx(0.02)
    assert quota.shape()["rate_share"] <= 0.8

    for _ in range(2000):
        clock.now += 0.05
        quota.succeeded(4)
    assert quota.shape()["rate_share"] <= 0.97 * 1.0
