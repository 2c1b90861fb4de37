"""The gmail-sync flow at Gmail's quota: refusals and server errors do not lose or duplicate receipts, the
quota is respected as Gmail counts it, and the project-wide limit lives in Prefect."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from prefect.client.orchestration import get_client

import tasks.sync_pages
from flows.gmail_sync import gmail_sync
from receipt_sync.errors import StorageError
from receipt_sync.storage import Storage, open_storage
from tests.conftest import SettingsOverride
from tests.factories import stored_receipts
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages, well_formed_stored

# More refusals in a row than one call's attempts (MAIL_ATTEMPTS, 6): the refused message is sent alone again and
# again while the limiter learns, within the rate-limit patience. Each refusal names a 1 s Retry-After, and the
# limiter cuts its rate under them and regrows it slowly, so every refusal costs seconds: the 40-refusal storm on
# 60 messages followed by five 403s (~4.5 min) is `python -m bench.sync_bench --sections storm`.
STORM = 12


@pytest.fixture
def new_project_quota(sync_env: dict[str, str], override_settings: SettingsOverride) -> str:
    """The new-project regime (6,000 units a minute, 20 a fetch), a project limit of this test's own."""
    name = f"gmail-project-{time.monotonic_ns()}"
    override_settings(
        {
            "GMAIL_QUOTA_UNITS_PER_MINUTE": "6000",
            "GMAIL_FETCH_COST": "20",
            "GMAIL_PROJECT_LIMIT_NAME": name,
            "GMAIL_PROJECT_RATE_LIMIT": "true",
            "TASK_RETRY_BASE_SECONDS": "0.2",
        }
    )
    return name


def test_sync_through_a_429_storm_and_5xx_stores_every_receipt_once(
    gmail: FakeGmailServer,
    connect_business: Callable[..., int],
    new_project_quota: str,
    override_settings: SettingsOverride,
) -> None:
    messages = sample_messages(30, seed=31)
    load(gmail, messages)
    business_id = connect_business()
    override_settings({"GMAIL_RETRY_BASE_SECONDS": "0.2"})  # the 5xx back-off; rate limits wait their Retry-After
    gmail.quota_units_per_minute = 6000  # Gmail enforces the same quota the limiter was given
    # The 403s first: a refusal without Retry-After backs off exponentially from the consecutive refusals before
    # it (capped at 32 s), so after the storm each would cost ~30 s (the bench's storm section keeps that order).
    gmail.fail_next(2, status=403, reason="userRateLimitExceeded", method="messages.get")
    gmail.fail_next(STORM, status=429, retry_after=1, method="messages.get")
    gmail.error_rate = 0.1

    summary = gmail_sync(business_id=business_id, mode="full")

    assert summary["status"] == "completed"
    assert well_formed_stored(set(stored_receipts(business_id)), messages) == receipt_ids(messages)
    fetched = Counter(r.target.split("?")[0] for r in gmail.calls("messages.get") if r.status == 200)
    assert set(fetched.values()) == {1}  # each message fetched once, despite the retries
    assert len(fetched) == len(messages)
    refused = [r for r in gmail.requests if r.status == 429]
    assert len(refused) == STORM  # only the scripted storm: the limiter never ran into Gmail's own quota
    assert gmail.max_units_in_window(60) <= 6000


def test_full_sync_through_cut_answers_5xx_and_a_429_storm_stores_every_receipt(
    gmail: FakeGmailServer,
    connect_business: Callable[..., int],
    sync_env: dict[str, str],
    override_settings: SettingsOverride,
) -> None:
    """Issue 14's reproduction, scaled down: 5 % of answers cut short (IncompleteRead), 10 % 5xx, a 429 storm
    (3 s here, against a retry budget based on 0.2 s), 300 messages."""
    messages = sample_messages(300, seed=41)
    load(gmail, messages)
    business_id = connect_business()
    override_settings({"GMAIL_RETRY_BASE_SECONDS": "0.2"})
    gmail.cut_rates = {"truncate": 0.05}
    gmail.cut_next(2, "truncate")  # at least two, whatever the random draws
    gmail.error_rate = 0.1
    gmail.storm(3.0, on="messages.get")

    summary = gmail_sync(business_id=business_id, mode="full")

    assert summary["status"] == "completed"
    assert well_formed_stored(set(stored_receipts(business_id)), messages) == receipt_ids(messages)
    assert any(kind == "truncate" for _, kind in gmail.cuts) and any(r.status == 429 for r in gmail.requests)


class FlakyStorage:
    """The real storage, except that the first `failures` uploads fail (an S3 outage mid-page)."""

    def __init__(self, inner: Storage, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("storage unavailable")
        self.inner.put(key, data, content_type)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_page_retried_after_a_storage_failure_does_not_fetch_its_mail_again(
    gmail: FakeGmailServer,
    connect_business: Callable[..., int],
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    override_settings: SettingsOverride,
) -> None:
    messages = sample_messages(50, seed=33)
    load(gmail, messages)
    business_id = connect_business()
    override_settings({"TASK_RETRY_BASE_SECONDS": "0.1"})
    flaky = FlakyStorage(open_storage(), failures=2)
    monkeypatch.setattr(tasks.sync_pages, "open_storage", lambda: flaky)

    summary = gmail_sync(business_id=business_id, mode="full")

    assert summary["status"] == "completed" and flaky.failures == 0
    assert well_formed_stored(set(stored_receipts(business_id)), messages) == receipt_ids(messages)
    fetched = Counter(r.target.split("?")[0] for r in gmail.calls("messages.get") if r.status == 200)
    assert len(fetched) == len(messages) and set(fetched.values()) == {1}


def test_project_wide_quota_is_a_prefect_rate_limit_with_slot_decay(
    gmail: FakeGmailServer, connect_business: Callable[..., int], new_project_quota: str
) -> None:
    load(gmail, sample_messages(12, seed=32))
    business_id = connect_business()

    gmail_sync(business_id=business_id, mode="full")

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(new_project_quota)
    assert limit.slot_decay_per_second and limit.slot_decay_per_second > 0
    assert limit.limit + 60 * limit.slot_decay_per_second <= 1_200_000  # no 60 s window can exceed the quota
