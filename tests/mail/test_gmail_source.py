"""GmailSource through the real googleapiclient over HTTP to the fake Gmail on 127.0.0.1."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage

import pytest

from receipt_sync.errors import (
    ConfigurationError,
    HistoryExpiredError,
    MailboxAuthError,
    PermanentMailError,
    TransientMailError,
)
from receipt_sync.mail.base import FetchFailure, RawMessage
from receipt_sync.mail.gmail import GmailSource
from receipt_sync.retry import MAIL_ATTEMPTS
from receipt_sync.settings import Settings, load_settings
from tests.factories import REFRESH_TOKEN
from tests.fakes.gmail_server import FakeGmailServer, FakeMessage

START = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def make_mail(n: int, subject: str | None = None, pdf: bool = False) -> bytes:
    """A small receipt-like message built with the stdlib (the realistic generator lives elsewhere)."""
    mail = EmailMessage()
    mail["From"] = f"Shop {n} <orders@shop{n}.example>"
    mail["To"] = "owner@business.example"
    mail["Subject"] = subject or f"Your receipt #{n}"
    mail["Date"] = "Fri, 1 Mar 2024 09:30:00 +0000"
    mail["X-Day"] = str(n)
    mail.set_content(f"Thanks for your order.\nTotal: ${n}.00\n")
    if pdf:
        mail.add_attachment(b"%PDF-1.4\n" + bytes(range(256)) * 40, "application", "pdf", filename=f"r{n}.pdf")
    return mail.as_bytes()


def mailbox(count: int) -> list[FakeMessage]:
    """`count` messages, one a day from START, every third with a PDF."""
    return [FakeMessage(make_mail(n, pdf=n % 3 == 0), internal_date=START + timedelta(days=n)) for n in range(count)]


pytestmark = pytest.mark.gmail(messages=lambda: mailbox(30), address="user@example.com")


def settings_for(server: FakeGmailServer, **overrides: object) -> Settings:
    return load_settings(
        gmail_api_endpoint=server.url,
        google_token_uri=server.token_uri,
        google_client_id="client-id.apps.googleusercontent.com",
        google_client_secret="client-secret",
        **overrides,
    )


@pytest.fixture
def source(gmail: FakeGmailServer) -> Iterator[GmailSource]:
    settings = settings_for(gmail, gmail_batch_size=10)
    source = GmailSource(REFRESH_TOKEN, settings, retry_base_seconds=0.01, rate_limit_patience_seconds=0)
    yield source
    source.close()


def all_pages(source: GmailSource, **window: object) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = source.list_messages(page_token=token, **window)  # type: ignore[arg-type]
        pages.append(page.message_ids)
        token = page.next_page_token
        if token is None:
            return pages


def test_listing_pages_through_a_date_window_newest_first(gmail: FakeGmailServer, source: GmailSource) -> None:
    after, before = START + timedelta(days=5), START + timedelta(days=20)
    pages = all_pages(source, after=after, before=before, page_size=4)
    in_window = [i for i in gmail.message_ids if after <= gmail_date(gmail, i) < before]
    assert [i for page in pages for i in page] == in_window
    assert [len(p) for p in pages] == [4, 4, 4, 3]
    sent = gmail.calls("messages.list")[0].target
    assert f"after%3A{int(after.timestamp())}" in sent and f"before%3A{int(before.timestamp())}" in sent


def gmail_date(gmail: FakeGmailServer, message_id: str) -> datetime:
    return START + timedelta(days=int(message_from_bytes(gmail.raw(message_id))["X-Day"]))


def test_listing_with_a_query_keeps_only_matching_mail(gmail: FakeGmailServer, source: GmailSource) -> None:
    invoice = gmail.add_message(make_mail(99, subject="Invoice 99"), internal_date=START)
    gmail.add_message(make_mail(98, subject="Lunch on Friday?"), internal_date=START)
    page = source.list_messages(page_token=None, query="subject:(invoice OR lunchbox)")
    assert page.message_ids == [invoice]
    with_pdf = source.list_messages(page_token=None, query="has:attachment filename:pdf")
    assert len(with_pdf.message_ids) == 10


def test_batch_fetch_returns_the_exact_bytes_the_server_holds(gmail: FakeGmailServer, source: GmailSource) -> None:
    ids = gmail.message_ids
    fetched = source.fetch_messages(ids)
    assert [m.id for m in fetched] == ids
    for message in fetched:
        assert isinstance(message, RawMessage)
        assert message.raw == gmail.raw(message.id)
        assert message.internal_date == gmail_date(gmail, message.id)
        assert message.label_ids == ("INBOX",)
    assert len(gmail.calls("batch")) == 3  # 30 messages in batches of 10
    assert len(gmail.calls("messages.get")) == 30


def test_rate_limit_and_5xx_bursts_inside_a_batch_are_retried(gmail: FakeGmailServer, source: GmailSource) -> None:
    gmail.fail_next(12, status=429, method="messages.get")
    gmail.fail_next(4, status=503, method="messages.get")
    gmail.fail_next(3, status=403, reason="userRateLimitExceeded", method="messages.get")
    fetched = source.fetch_messages(gmail.message_ids)
    assert all(isinstance(m, RawMessage) and m.raw == gmail.raw(m.id) for m in fetched)
    statuses = [r.status for r in gmail.calls("messages.get")]
    assert statuses.count(429) == 12 and statuses.count(503) == 4 and statuses.count(403) == 3
    assert statuses.count(200) == 30


def test_endless_rate_limiting_gives_up_with_a_transient_error(gmail: FakeGmailServer, source: GmailSource) -> None:
    gmail.fail_next(10_000, status=429, method="messages.get")
    with pytest.raises(TransientMailError, match="try again later"):
        source.fetch_messages(gmail.message_ids[:3])
    assert len(gmail.calls("messages.get")) == 3 * MAIL_ATTEMPTS  # one budget, then given up


def test_deleted_message_fails_alone(gmail: FakeGmailServer, source: GmailSource) -> None:
    ids = gmail.message_ids[:5]
    gmail.delete_message(ids[2])
    fetched = source.fetch_messages(ids)
    assert isinstance(fetched[2], FetchFailure) and fetched[2].id == ids[2]
    assert "not found" in fetched[2].error
    assert [m.id for m in fetched if isinstance(m, RawMessage)] == ids[:2] + ids[3:]


def assert_token_hidden(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert REFRESH_TOKEN not in text
    assert "ya29." not in text


def test_revoked_refresh_token_asks_the_user_to_reconnect(gmail: FakeGmailServer) -> None:
    gmail.revoke(REFRESH_TOKEN)
    source = GmailSource(REFRESH_TOKEN, settings_for(gmail), address="owner@business.example")
    with pytest.raises(MailboxAuthError) as caught:
        source.list_messages(page_token=None)
    assert "reconnect the mailbox" in str(caught.value).lower()
    assert "owner@business.example" in str(caught.value)
    assert_token_hidden(caught.value)
    assert REFRESH_TOKEN not in repr(source)
    assert [r.status for r in gmail.calls("token")] == [400]  # not retried


def test_revocation_during_a_sync_stops_fetches_with_an_auth_error(gmail: FakeGmailServer, source: GmailSource) -> None:
    source.current_history_id()  # holds a valid access token now
    gmail.revoke(REFRESH_TOKEN)
    with pytest.raises(MailboxAuthError) as caught:
        source.fetch_messages(gmail.message_ids[:3])
    assert_token_hidden(caught.value)


def test_expired_history_id_raises_history_expired(gmail: FakeGmailServer, source: GmailSource) -> None:
    history_id = source.current_history_id()
    assert history_id is not None
    gmail.expire_history()
    with pytest.raises(HistoryExpiredError):
        source.list_history(start_history_id=history_id, page_token=None)


def test_history_after_new_mail_lists_only_the_new_message(gmail: FakeGmailServer, source: GmailSource) -> None:
    history_id = source.current_history_id()
    assert history_id is not None
    new_id = gmail.add_message(make_mail(100))
    gmail.add_message(make_mail(101), label_ids=["SPAM"])
    page = source.list_history(start_history_id=history_id, page_token=None)
    assert page.message_ids == [new_id]
    assert page.next_page_token is None
    assert page.history_id == source.current_history_id()


def test_connecting_learns_the_mailbox_address(gmail: FakeGmailServer, source: GmailSource) -> None:
    assert source.email_address() == gmail.address == "user@example.com"
    assert "user@example.com" in repr(source)


def test_unchanged_mailbox_is_seen_for_one_unit(gmail: FakeGmailServer, source: GmailSource) -> None:
    first = source.current_history_id()
    gmail.clear_requests()
    assert source.current_history_id() == first
    assert [(r.method, r.units) for r in gmail.requests] == [("getProfile", 1)]


def test_client_uses_the_configured_endpoint_for_every_call(gmail: FakeGmailServer, source: GmailSource) -> None:
    source.current_history_id()
    page = source.list_messages(page_token=None, page_size=5)
    source.fetch_messages(page.message_ids)
    source.list_history(start_history_id=gmail.history_id, page_token=None)
    methods = [(r.method, r.in_batch) for r in gmail.requests]
    assert methods == [
        ("token", False),
        ("getProfile", False),
        ("messages.list", False),
        ("batch", False),
        *[("messages.get", True)] * 5,
        ("history.list", False),
    ]
    assert all(r.status == 200 for r in gmail.requests)


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (429, "rateLimitExceeded", TransientMailError),
        (503, "backendError", TransientMailError),
        (403, "userRateLimitExceeded", TransientMailError),
        (403, "dailyLimitExceeded", PermanentMailError),
        (400, "invalidArgument", PermanentMailError),
    ],
)
def test_listing_errors_map_to_domain_errors(
    gmail: FakeGmailServer, source: GmailSource, status: int, reason: str, expected: type[Exception]
) -> None:
    waits: list[float] = []
    patient = GmailSource(REFRESH_TOKEN, settings_for(gmail), sleep=waits.append, rate_limit_patience_seconds=0)
    gmail.fail_next(MAIL_ATTEMPTS, status=status, reason=reason, retry_after=7, method="messages.list")
    with pytest.raises(expected) as caught:
        patient.list_messages(page_token=None)
    assert type(caught.value) is expected
    if expected is TransientMailError:  # retried within the one budget, then given up
        assert caught.value.retry_after == 7  # type: ignore[attr-defined]
        assert len(gmail.calls("messages.list")) == MAIL_ATTEMPTS and min(waits) >= 7
    else:
        assert len(gmail.calls("messages.list")) == 1 and not waits


def test_unreachable_gmail_is_a_transient_error(gmail: FakeGmailServer) -> None:
    settings = settings_for(gmail)
    gmail.stop()
    with pytest.raises(TransientMailError):
        GmailSource(REFRESH_TOKEN, settings, timeout=2, retry_base_seconds=0.01).current_history_id()


def test_missing_oauth_client_is_a_configuration_error(gmail: FakeGmailServer) -> None:
    with pytest.raises(ConfigurationError, match="GOOGLE_CLIENT_ID"):
        GmailSource(REFRESH_TOKEN, load_settings(gmail_api_endpoint=gmail.url, google_client_id=None))


class RecordingLimiter:
    def __init__(self) -> None:
        self.units: list[int] = []

    def acquire(self, units: int) -> None:
        self.units.append(units)


def test_limiter_is_asked_for_each_calls_units_before_it_is_made(gmail: FakeGmailServer) -> None:
    limiter = RecordingLimiter()
    source = GmailSource(REFRESH_TOKEN, settings_for(gmail, gmail_fetch_cost=5), limiter=limiter)
    source.current_history_id()
    page = source.list_messages(page_token=None, page_size=3)
    source.fetch_messages(page.message_ids)
    source.list_history(start_history_id=gmail.history_id, page_token=None)
    assert limiter.units == [1, 5, 5, 5, 5, 2]


def test_threads_sharing_a_source_each_get_their_own_answers(gmail: FakeGmailServer, source: GmailSource) -> None:
    gmail.latency = 0.01
    chunks = [gmail.message_ids[i : i + 5] for i in range(0, 30, 5)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(source.fetch_messages, chunks * 2))
    for chunk, fetched in zip(chunks * 2, results, strict=True):
        assert [m.id for m in fetched] == chunk
        assert all(isinstance(m, RawMessage) and m.raw == gmail.raw(m.id) for m in fetched)
