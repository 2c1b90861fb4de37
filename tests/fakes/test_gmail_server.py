"""The fake Gmail itself: search subset, message formats, attachments, auth, quota and fault injection."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from tests.fakes.gmail_server import DEFAULT_REFRESH_TOKEN, FakeGmailServer, FakeMessage

DAY = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def mail(subject: str, body: str, sender: str = "shop@example.com", pdf: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "me@example.com", subject
    message.set_content(body)
    if pdf is not None:
        message.add_attachment(pdf, "application", "pdf", filename="invoice-42.pdf")
    return message.as_bytes()


PDF = b"%PDF-1.4\n" + b"\x00\xff" * 20_000
MESSAGES = {
    "receipt": FakeMessage(mail("Your receipt from Cafe", "Total paid: $4.50"), "m1", internal_date=DAY),
    "invoice": FakeMessage(mail("Invoice 42", "Please find attached", pdf=PDF), "m2", internal_date=DAY),
    "lunch": FakeMessage(mail("Lunch?", "Shall we meet at noon", sender="Dana <dana@friends.example>"), "m3"),
    "spam": FakeMessage(mail("Cheap receipt pills", "buy now"), "m4", label_ids=("SPAM",)),
}


pytestmark = pytest.mark.gmail(
    messages=MESSAGES.values, address="me@example.com", refresh_tokens=[DEFAULT_REFRESH_TOKEN]
)


def access_token(gmail: FakeGmailServer) -> str:
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN})
    with urllib.request.urlopen(gmail.token_uri, form.encode()) as answer:
        return json.load(answer)["access_token"]


def get(gmail: FakeGmailServer, path: str, token: str | None = None, **query: Any) -> tuple[int, Any, Any]:
    """(status, JSON body, headers) of one API GET."""
    url = f"{gmail.url}/gmail/v1/users/me/{path}?{urllib.parse.urlencode(query, doseq=True)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token or access_token(gmail)}"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.load(answer), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers


def subjects(gmail: FakeGmailServer, q: str) -> set[str]:
    status, data, _ = get(gmail, "messages", q=q)
    assert status == 200
    names = {m.id: name for name, m in MESSAGES.items()}
    return {names[m["id"]] for m in data.get("messages", [])}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("receipt", {"receipt"}),
        ('"total paid"', {"receipt"}),
        ("subject:(receipt OR invoice)", {"receipt", "invoice"}),
        ("{noon invoice}", {"lunch", "invoice"}),
        ("from:dana", {"lunch"}),
        ("has:attachment filename:pdf", {"invoice"}),
        ("-subject:invoice after:2024/05/01 before:2024-06-01", {"receipt"}),
        (f"after:{int(DAY.timestamp())} before:{int(DAY.timestamp()) + 1}", {"receipt", "invoice"}),
        (f"before:{int(DAY.timestamp())}", set()),
        ("receipts", set()),  # whole words, like Gmail
    ],
)
def test_search_subset_selects_the_expected_messages(gmail: FakeGmailServer, q: str, expected: set[str]) -> None:
    assert subjects(gmail, q) == expected


def test_listing_hides_spam_unless_asked_and_pages(gmail: FakeGmailServer) -> None:
    status, data, _ = get(gmail, "messages", maxResults=2)
    assert status == 200 and len(data["messages"]) == 2 and data["resultSizeEstimate"] == 3
    _, rest, _ = get(gmail, "messages", maxResults=2, pageToken=data["nextPageToken"])
    assert len(rest["messages"]) == 1 and "nextPageToken" not in rest
    _, everything, _ = get(gmail, "messages", includeSpamTrash="true")
    assert everything["resultSizeEstimate"] == 4


def test_full_format_has_a_part_tree_and_attachments_are_fetchable(gmail: FakeGmailServer) -> None:
    _, message, _ = get(gmail, "messages/m2", format="full")
    text, pdf = message["payload"]["parts"]
    assert message["payload"]["mimeType"] == "multipart/mixed" and text["partId"] == "0"
    assert base64.urlsafe_b64decode(text["body"]["data"] + "==").startswith(b"Please find attached")
    assert pdf["filename"] == "invoice-42.pdf" and pdf["body"]["size"] == len(PDF)
    _, attachment, _ = get(gmail, f"messages/m2/attachments/{pdf['body']['attachmentId']}")
    assert base64.urlsafe_b64decode(attachment["data"] + "==") == PDF
    _, minimal, _ = get(gmail, "messages/m2", format="minimal")
    assert "payload" not in minimal and minimal["internalDate"] == str(int(DAY.timestamp() * 1000))
    _, meta, _ = get(gmail, "messages/m2", format="metadata", metadataHeaders="Subject")
    assert meta["payload"]["headers"] == [{"name": "Subject", "value": "Invoice 42"}]


def test_errors_use_googles_json_shape(gmail: FakeGmailServer) -> None:
    status, body, _ = get(gmail, "messages/nope")
    assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound"
    status, body, _ = get(gmail, "profile", token="ya29.forged")
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"


def test_revoked_refresh_token_gets_invalid_grant(gmail: FakeGmailServer) -> None:
    gmail.revoke(DEFAULT_REFRESH_TOKEN)
    with pytest.raises(urllib.error.HTTPError) as caught:
        access_token(gmail)
    assert caught.value.code == 400 and json.load(caught.value)["error"] == "invalid_grant"


def test_quota_refuses_calls_over_the_per_minute_units(gmail: FakeGmailServer) -> None:
    gmail.quota_units_per_minute = 100
    token = access_token(gmail)
    statuses = [get(gmail, "messages/m1", token, format="raw")[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    status, body, headers = get(gmail, "profile", token)
    assert status == 429 and body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert 55 <= int(headers["Retry-After"]) <= 60
    assert gmail.max_units_in_window(60) == 100
    assert [r.units for r in gmail.calls("messages.get")] == [20] * 5 + [0]


def test_scripted_and_random_faults(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.fail_next(2, status=403, reason="userRateLimitExceeded", retry_after=3, method="getProfile")
    status, _, headers = get(gmail, "profile", token)
    assert (status, headers["Retry-After"]) == (403, "3")
    assert [get(gmail, "profile", token)[0] for _ in range(2)] == [403, 200]
    gmail.error_rate = 0.5
    statuses = [get(gmail, "profile", token)[0] for _ in range(40)]
    assert 8 < statuses.count(500) < 32 and set(statuses) == {200, 500}


def test_concurrent_requests_over_the_cap_get_429(gmail: FakeGmailServer) -> None:
    gmail.max_concurrent, gmail.latency = 2, 0.2
    token = access_token(gmail)
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(get(gmail, "profile", token)[0])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 429, 429]


def test_batch_of_more_than_100_parts_is_refused(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    part = "--b\r\nContent-Type: application/http\r\nContent-ID: <x + {}>\r\n\r\nGET /gmail/v1/users/me/profile\r\n\r\n"
    body = "".join(part.format(i) for i in range(101)) + "--b--\r\n"
    headers = {"Content-Type": "multipart/mixed; boundary=b", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(gmail.batch_uri, body.encode(), headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400


@pytest.mark.parametrize(("burst_seconds", "admitted"), [(5.0, 5), (2.5, 2), (60.0, 60)])
def test_token_bucket_admits_its_burst_then_refuses(
    gmail: FakeGmailServer, burst_seconds: float, admitted: int
) -> None:
    """60 units a minute refill one unit a second; the bucket holds `burst_seconds` of them (60: per-minute)."""
    gmail.quota_units_per_minute, gmail.quota_model, gmail.burst_seconds = 60, "bucket", burst_seconds
    token = access_token(gmail)
    statuses = [get(gmail, "profile", token)[0] for _ in range(admitted + 1)]
    assert statuses == [200] * admitted + [429]
    status, body, headers = get(gmail, "profile", token)
    assert status == 429 and body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert int(headers["Retry-After"]) == 1  # one unit a second: the next call fits within a second


def test_storm_refuses_every_call_until_it_passes(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.storm(60)
    assert [get(gmail, "profile", token)[0] for _ in range(3)] == [429] * 3
    gmail.storm(0)
    assert get(gmail, "profile", token)[0] == 200


def raw_get(gmail: FakeGmailServer, token: str, timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(f"{gmail.url}/gmail/v1/users/me/messages/m2?format=raw")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return answer.read()


def test_truncated_answer_is_an_incomplete_read(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.cut_next(1, "truncate")
    with pytest.raises(http.client.IncompleteRead):
        raw_get(gmail, token)
    assert json.loads(raw_get(gmail, token))["id"] == "m2"  # only that exchange was cut
    assert [kind for _, kind in gmail.cuts] == ["truncate"]


def test_reset_connection_gives_no_answer(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.cut_next(1, "reset")
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        raw_get(gmail, token)
    assert gmail.calls("messages.get")[0].status == 200  # the server did the work: the answer was lost


def test_stalled_answer_times_the_client_out(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.stall_seconds = 1.0
    gmail.cut_next(1, "stall")
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        raw_get(gmail, token, timeout=0.2)


def test_random_transport_faults_follow_their_rates(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.cut_rates = {"truncate": 0.3}
    outcomes = []
    for _ in range(40):
        try:
            raw_get(gmail, token)
            outcomes.append("ok")
        except http.client.IncompleteRead:
            outcomes.append("cut")
    assert 4 < outcomes.count("cut") < 24 and len(gmail.cuts) == outcomes.count("cut")


def test_a_batch_part_fails_alone(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.fail_next(1, status=503, method="messages.get")
    text = batch_of(gmail, token, ["m1", "m2", "m3"])
    assert text.count("HTTP/1.1 503") == 1 and text.count("HTTP/1.1 200") == 2


def batch_of(gmail: FakeGmailServer, token: str, ids: list[str]) -> str:
    part = (
        "--b\r\nContent-Type: application/http\r\nContent-ID: <x+{0}>\r\n\r\n"
        "GET /gmail/v1/users/me/messages/{0}\r\n\r\n"
    )
    body = "".join(part.format(i) for i in ids) + "--b--\r\n"
    headers = {"Content-Type": "multipart/mixed; boundary=b", "Authorization": f"Bearer {token}"}
    with urllib.request.urlopen(urllib.request.Request(gmail.batch_uri, body.encode(), headers)) as answer:
        return answer.read().decode()


def test_a_server_counting_batch_parts_refuses_the_parts_over_its_concurrency_cap(gmail: FakeGmailServer) -> None:
    token = access_token(gmail)
    gmail.max_concurrent = 3
    assert batch_of(gmail, token, ["m1", "m2", "m3", "m1", "m2"]).count("HTTP/1.1 200") == 5  # parts not counted
    gmail.concurrent_parts = True
    text = batch_of(gmail, token, ["m1", "m2", "m3", "m1", "m2"])
    assert text.count("HTTP/1.1 200") == 3 and text.count("HTTP/1.1 429") == 2
    assert "Too many concurrent requests for user" in text
    assert batch_of(gmail, token, ["m1", "m2", "m3"]).count("HTTP/1.1 200") == 3  # slots given back


def test_stricter_server_refuses_with_403_and_no_retry_after_below_the_documented_rate(
    gmail: FakeGmailServer,
) -> None:
    """A window at half the documented 100 units a minute, refusing as 403 userRateLimitExceeded, no Retry-After."""
    gmail.quota_units_per_minute, gmail.quota_share = 100, 0.5
    gmail.quota_refusal, gmail.retry_after_header = (403, "userRateLimitExceeded"), False
    token = access_token(gmail)
    statuses = [get(gmail, "messages/m1", token, format="raw")[0] for _ in range(3)]
    assert statuses == [200, 200, 403]
    status, body, headers = get(gmail, "messages/m2", token, format="raw")
    assert status == 403 and body["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    assert "Retry-After" not in headers


def test_latency_jitter_delays_answers_by_up_to_its_seconds(gmail: FakeGmailServer) -> None:
    gmail.latency, gmail.latency_jitter = 0.01, 0.2
    token = access_token(gmail)
    took = []
    for _ in range(12):
        started = time.monotonic()
        get(gmail, "profile", token)
        took.append(time.monotonic() - started)
    assert min(took) >= 0.01 and max(took) - min(took) > 0.05  # some answers later than others
