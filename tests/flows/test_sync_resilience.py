"""A sync survives what production throws at it: a killed worker, malformed mail, concurrent triggers, and it
never lets a refresh token leak."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.gmail_sync import gmail_sync
from receipt_sync.errors import SyncAlreadyRunning
from receipt_sync.polling import poll_until
from tests.conftest import SettingsOverride
from tests.factories import REFRESH_TOKEN, age_run, stored_receipts, sync_runs
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages, well_formed_stored

ROOT = Path(__file__).resolve().parents[2]


def test_run_killed_mid_way_then_rerun_stores_every_receipt_once(
    gmail: FakeGmailServer,
    connect_business: Callable[..., int],
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = sample_messages(120, seed=21)
    load(gmail, messages)
    business_id = connect_business()
    gmail.latency = 0.03
    env = {**os.environ, **sync_env, "GMAIL_PAGE_SIZE": "10"}
    code = f"from flows.gmail_sync import gmail_sync; gmail_sync(business_id={business_id}, mode='full')"
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)
    try:
        poll_until(
            lambda: bool(sync_runs(business_id)) and sync_runs(business_id)[0].pages_done >= 3,
            what="three pages synced",
            timeout=120,
            every=0.1,
        )
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    (killed,) = sync_runs(business_id)
    assert killed.status == "running"  # nobody closed it: the worker died
    gmail.latency = 0.0
    age_run(killed.id, timedelta(hours=1))  # its heartbeat stopped long ago: stale by the default rule

    summary = gmail_sync(business_id=business_id, mode="full")  # waits for the dead worker's slot lease to lapse

    runs = sync_runs(business_id)
    assert [r.status for r in runs] == ["failed", "completed"]
    assert "stale" in (runs[0].error_message or "")
    assert runs[1].rerun_of_id == runs[0].id
    assert summary["messages_scanned"] < len(messages)  # resumed from the checkpoint, not from the start
    assert well_formed_stored(set(stored_receipts(business_id)), messages) == receipt_ids(messages)


def _malformed_messages() -> list[bytes]:
    broken_base64 = (
        b"From: Shop <billing@shop.example>\r\nTo: a@b.example\r\nSubject: Your receipt\r\n"
        b"Message-ID: <broken-b64@shop.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!! this is not base64 @@@@ ====\r\n"
    )
    unknown_charset = (
        b"From: Shop <billing@shop.example>\r\nTo: a@b.example\r\nSubject: Hello\r\n"
        b"Message-ID: <charset@shop.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xff\xfe hello \xe9\r\n"
    )
    truncated = (
        b"From: Shop <billing@shop.example>\r\nSubject: Invoice\r\nMessage-ID: <trunc@shop.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zzz"\r\n\r\n--zzz\r\n'
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK"
    )
    huge = EmailMessage()
    huge["From"], huge["To"], huge["Subject"] = "Shop <billing@shop.example>", "a@b.example", "Invoice 77"
    huge["Message-ID"] = "<huge@shop.example>"
    huge.set_content("Invoice attached. Total: $10.00")
    huge.add_attachment(b"%PDF-1.4 " + b"x" * 300_000, maintype="application", subtype="pdf", filename="i.pdf")
    zero = EmailMessage()
    zero["From"], zero["To"], zero["Subject"] = "Shop <billing@shop.example>", "a@b.example", "Receipt"
    zero["Message-ID"] = "<zero@shop.example>"
    zero.set_content("Your receipt is attached.")
    zero.add_attachment(b"", maintype="application", subtype="pdf", filename="empty.pdf")
    return [broken_base64, unknown_charset, truncated, huge.as_bytes(), zero.as_bytes()]


def test_malformed_messages_fail_alone_and_the_rest_of_the_page_is_stored(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    override_settings({"MAX_ATTACHMENT_BYTES": "100000"})
    messages = [m for m in sample_messages(15, seed=31) if m.truth.kind != "malformed"]
    load(gmail, messages)
    for raw in _malformed_messages():
        gmail.add_message(raw)
    business_id = connect_business()

    summary = gmail_sync(business_id=business_id, mode="full")

    assert summary["status"] == "completed"
    assert set(stored_receipts(business_id)) >= receipt_ids(messages)
    (run,) = sync_runs(business_id)
    assert run.errors_count >= 2
    assert all(e["message_id"] and e["error"] for e in run.message_errors or [])


def test_two_syncs_of_one_business_never_run_together_but_two_businesses_do(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    load(gmail, sample_messages(40, seed=41))
    override_settings({"GMAIL_PAGE_SIZE": "4"})  # ten slow pages: business A's run lasts several seconds
    gmail.latency = 0.3
    first, second = connect_business("A"), connect_business("B")
    outcomes: dict[str, object] = {}

    def run(label: str) -> None:
        try:
            outcomes[label] = gmail_sync(business_id=first, mode="full")
        except SyncAlreadyRunning as exc:
            outcomes[label] = exc

    threads = [threading.Thread(target=run, args=(label,)) for label in ("A0", "A1")]
    for thread in threads:
        thread.start()
    poll_until(
        lambda: any(r.status == "running" and r.pages_done >= 1 for r in sync_runs(first)),
        what="business A's sync running",
        timeout=60,
        every=0.1,
    )

    other = gmail_sync(business_id=second, mode="full", max_messages=4)  # one page, while A is still walking
    a_status_when_b_finished = [r.status for r in sync_runs(first)]
    for thread in threads:
        thread.join(timeout=300)

    assert other["status"] == "completed"
    assert a_status_when_b_finished == ["running"]  # B ran and finished inside A's run
    a_results = [outcomes["A0"], outcomes["A1"]]
    assert sum(isinstance(r, dict) for r in a_results) == 1  # the other A was refused, never run beside it
    assert sum(isinstance(r, SyncAlreadyRunning) for r in a_results) == 1
    assert [r.status for r in sync_runs(first)] == ["completed"]


def test_refresh_token_never_appears_in_logs_parameters_artifacts_or_errors(
    gmail: FakeGmailServer, connect_business: Callable[..., int], caplog: pytest.LogCaptureFixture
) -> None:
    load(gmail, sample_messages(20, seed=51))
    business_id = connect_business()
    caplog.set_level(logging.DEBUG)

    gmail_sync(business_id=business_id, mode="full")
    gmail.revoke(REFRESH_TOKEN)
    with pytest.raises(Exception) as failure:
        gmail_sync(business_id=business_id, mode="incremental")

    assert REFRESH_TOKEN not in caplog.text
    assert REFRESH_TOKEN not in repr(failure.value) and REFRESH_TOKEN not in str(failure.value.__cause__)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=200)
        artifacts = client.read_artifacts(limit=200)
    assert runs and artifacts
    assert all(REFRESH_TOKEN not in repr(r.parameters) for r in runs)
    assert all(REFRESH_TOKEN not in repr(a.data) + repr(a.description) for a in artifacts)
    assert all(REFRESH_TOKEN not in (r.error_message or "") for r in sync_runs(business_id))
