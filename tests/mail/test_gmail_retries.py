"""The one retry budget (receipt_sync/retry.py) against every transient fault the Gmail client can meet: a
truncated answer, a reset connection, a timeout, 5xx, 429 and 403 rate limits, a batch part failing alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from receipt_sync.errors import PermanentMailError, TransientMailError
from receipt_sync.mail.base import RawMessage
from receipt_sync.mail.gmail import GmailSource
from receipt_sync.retry import MAIL_ATTEMPTS
from tests.fakes.gmail_server import FakeGmailServer
from tests.mail.test_gmail_source import REFRESH_TOKEN, mailbox, settings_for

FAULTS: dict[str, Callable[[FakeGmailServer, int], None]] = {
    "truncated answer": lambda g, n: g.cut_next(n, "truncate"),
    "reset connection": lambda g, n: g.cut_next(n, "reset"),
    "timeout": lambda g, n: g.cut_next(n, "stall"),
    "503": lambda g, n: g.fail_next(n, status=503),
    "429": lambda g, n: g.fail_next(n, status=429),
    "403 rate limit": lambda g, n: g.fail_next(n, status=403, reason="userRateLimitExceeded"),
}


pytestmark = pytest.mark.gmail(messages=lambda: mailbox(30), stall_seconds=1.0, address="user@example.com")


@pytest.fixture
def source(gmail: FakeGmailServer) -> Iterator[GmailSource]:
    settings = settings_for(gmail, gmail_batch_size=10)
    source = GmailSource(REFRESH_TOKEN, settings, retry_base_seconds=0.01, timeout=0.3, rate_limit_patience_seconds=0)
    yield source
    source.close()


@pytest.mark.parametrize("fault", FAULTS)
def test_a_call_meeting_a_transient_fault_is_sent_again(
    gmail: FakeGmailServer, source: GmailSource, fault: str
) -> None:
    FAULTS[fault](gmail, 3)
    assert source.list_messages(page_token=None).message_ids == gmail.message_ids


@pytest.mark.parametrize("fault", FAULTS)
def test_a_batch_meeting_a_transient_fault_delivers_every_message(
    gmail: FakeGmailServer, source: GmailSource, fault: str
) -> None:
    source.current_history_id()  # the token and the first call are behind us: the fault hits a batch
    FAULTS[fault](gmail, 3)
    fetched = source.fetch_messages(gmail.message_ids)
    assert all(isinstance(m, RawMessage) and m.raw == gmail.raw(m.id) for m in fetched)
    assert [m.id for m in fetched] == gmail.message_ids


def test_a_batch_part_failing_alone_is_requeued_alone(gmail: FakeGmailServer, source: GmailSource) -> None:
    gmail.fail_next(1, status=503, method="messages.get")
    fetched = source.fetch_messages(gmail.message_ids[:10])
    assert all(isinstance(m, RawMessage) for m in fetched)
    statuses = [r.status for r in gmail.calls("messages.get")]
    assert statuses.count(503) == 1 and statuses.count(200) == 10  # the other nine were not asked again
    assert len(gmail.calls("batch")) == 2


@pytest.mark.parametrize("fault", ["truncated answer", "503", "429"])
def test_a_fault_outlasting_the_budget_fails_after_its_attempts(
    gmail: FakeGmailServer, source: GmailSource, fault: str
) -> None:
    FAULTS[fault](gmail, 100)
    with pytest.raises(TransientMailError):
        source.list_messages(page_token=None)
    assert len(gmail.calls("messages.list")) == MAIL_ATTEMPTS


def test_retry_after_is_honoured_and_permanent_errors_are_not_retried(gmail: FakeGmailServer) -> None:
    waits: list[float] = []
    source = GmailSource(REFRESH_TOKEN, settings_for(gmail), retry_base_seconds=0.01, sleep=waits.append)
    gmail.fail_next(2, status=429, retry_after=7, method="messages.list")
    source.list_messages(page_token=None)
    assert len(waits) == 2 and min(waits) >= 7
    gmail.fail_next(1, status=403, reason="dailyLimitExceeded", method="messages.list")
    with pytest.raises(PermanentMailError):
        source.list_messages(page_token=None)
    assert len(gmail.calls("messages.list")) == 4 and len(waits) == 2


def test_rate_limits_are_waited_out_longer_than_failures(gmail: FakeGmailServer) -> None:
    """A 429 is Gmail pacing the mailbox: retried for the patience time, beyond the attempts a failure gets."""
    waits: list[float] = []
    settings = settings_for(gmail, gmail_batch_size=10)
    source = GmailSource(REFRESH_TOKEN, settings, retry_base_seconds=0.01, sleep=waits.append)
    source.current_history_id()
    gmail.fail_next(MAIL_ATTEMPTS + 2, status=429, method="messages.get")
    fetched = source.fetch_messages(gmail.message_ids[:1])
    assert isinstance(fetched[0], RawMessage) and len(waits) == MAIL_ATTEMPTS + 2
    gmail.fail_next(MAIL_ATTEMPTS + 2, status=503, method="messages.get")
    with pytest.raises(TransientMailError):
        source.fetch_messages(gmail.message_ids[:1])
