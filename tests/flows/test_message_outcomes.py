"""What happened to each message is visible where people look (logs, state, artifacts), and failures are repaired:
transient ones by later syncs, any of them on request (`reprocess_failed`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogWorker
from sqlalchemy import select

from flows.gmail_sync import gmail_sync
from models import ProcessedMessage
from models.db import session_scope
from tests.conftest import SettingsOverride
from tests.factories import stored_receipts, sync_runs
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages


def _invoice_with_attachment(n: int, size: int) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Shop <billing@shop.example>", "a@b.example", f"Invoice {n}"
    mail["Message-ID"] = f"<big-{n}@shop.example>"
    mail.set_content(f"Invoice INV-{n} attached. Total: $12.50")
    mail.add_attachment(b"%PDF-1.4 " + b"x" * size, maintype="application", subtype="pdf", filename="inv.pdf")
    return mail.as_bytes()


def _broken_base64(n: int) -> bytes:
    return (
        f"From: Shop <billing@shop.example>\r\nTo: a@b.example\r\nSubject: Your receipt {n}\r\n"
        f"Message-ID: <broken-{n}@shop.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "!!!! this is not base64 @@@@ ====\r\n"
    ).encode()


def _ledger(business_id: int) -> dict[str, ProcessedMessage]:
    with session_scope() as session:
        rows = session.scalars(select(ProcessedMessage).where(ProcessedMessage.business_id == business_id))
        return {row.message_id: row for row in rows}


def test_failed_messages_show_in_the_log_state_message_name_tags_and_summary(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    override_settings({"MAX_ATTACHMENT_BYTES": "100000"})
    messages = [m for m in sample_messages(12, seed=61) if m.truth.kind != "malformed"]
    load(gmail, messages)
    failing = [gmail.add_message(_broken_base64(n)) for n in range(3)]
    failing.append(gmail.add_message(_invoice_with_attachment(1, 200_000)))
    business_id = connect_business("Acme Ltd")

    state = gmail_sync(business_id=business_id, mode="full", return_state=True)

    assert state.is_completed()
    assert state.message is not None and state.message.startswith("Completed with 4 message errors")
    (run,) = sync_runs(business_id)
    assert {e["message_id"] for e in run.message_errors or []} == set(failing)
    APILogWorker.drain_all(timeout=30)
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    assert flow_run.name == f"gmail-sync/acme-ltd-{business_id}/full"
    assert {f"business:{business_id}", "business-name:Acme Ltd"} <= set(flow_run.tags)
    warnings = [log.message for log in logs if log.level == 30 and "failed (" in log.message]
    assert sorted(w.split()[1] for w in warnings) == sorted(failing)  # one line per failed message, with its id
    assert all("not base64" not in w for w in warnings)  # reasons, never the content
    assert any(log.message.startswith("page 1: ") and "listed" in log.message for log in logs)
    keys = {a.key: a for a in artifacts}
    assert f"sync-progress-acme-ltd-{business_id}" in keys
    summary = str(keys[f"sync-summary-acme-ltd-{business_id}"].data)
    for expected in ("Acme Ltd", "owner@acme.example", "Message errors | 4", f"/api/receipts/sync/runs/{run.id}"):
        assert expected in summary
    assert failing[0] in summary


def test_messages_that_failed_transiently_are_retried_by_the_next_sync_even_with_no_new_mail(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    messages = [m for m in sample_messages(20, seed=62) if m.truth.kind != "malformed"][:4]
    load(gmail, messages)
    business_id = connect_business()
    override_settings({"MESSAGE_TIME_BUDGET_SECONDS": "0.000001"})  # a machine too busy to analyse anything in time

    first = gmail_sync(business_id=business_id, mode="full")

    assert first["errors"] == len(messages) and stored_receipts(business_id) == {}
    assert {row.outcome for row in _ledger(business_id).values()} == {"retry"}
    override_settings({"MESSAGE_TIME_BUDGET_SECONDS": "30"})
    gmail.clear_requests()

    second = gmail_sync(business_id=business_id, mode="incremental")  # the mailbox itself did not change

    assert second["errors"] == 0
    assert set(stored_receipts(business_id)) == receipt_ids(messages)
    assert {row.outcome for row in _ledger(business_id).values()} <= {"receipt", "not_receipt", "needs_review"}
    assert {row.attempts for row in _ledger(business_id).values()} == {2}


def test_permanent_failures_are_skipped_by_later_syncs_until_reprocessed(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    override_settings({"MAX_ATTACHMENT_BYTES": "100000"})
    load(gmail, [m for m in sample_messages(10, seed=63) if m.truth.kind != "malformed"])
    too_big = [gmail.add_message(_invoice_with_attachment(n, 150_000)) for n in range(2)]
    business_id = connect_business()
    gmail_sync(business_id=business_id, mode="full")
    assert {_ledger(business_id)[m].outcome for m in too_big} == {"error"}
    override_settings({"MAX_ATTACHMENT_BYTES": "1000000"})  # the operator raises the limit
    gmail.clear_requests()

    later = gmail_sync(business_id=business_id, mode="full")
    assert later["receipts_saved"] == 0 and gmail.calls("messages.get") == []  # a permanent failure is not retried

    repaired = gmail_sync(business_id=business_id, mode="full", reprocess_failed=True)

    assert repaired["errors"] == 0 and repaired["receipts_saved"] == len(too_big)
    assert set(too_big) <= set(stored_receipts(business_id))
    fetched = {call.target.split("?")[0].rsplit("/", 1)[-1] for call in gmail.calls("messages.get")}
    assert fetched == set(too_big)  # only the failed messages were fetched again
    assert sync_runs(business_id)[-1].parameters["reprocess_failed"] is True


def test_progress_moves_within_a_page_while_its_messages_are_fetched(
    gmail: FakeGmailServer, connect_business: Callable[..., int], override_settings: SettingsOverride
) -> None:
    messages = sample_messages(30, seed=64)
    load(gmail, messages)
    business_id = connect_business()
    override_settings({"GMAIL_PAGE_SIZE": "100", "GMAIL_BATCH_SIZE": "5", "SYNC_PROGRESS_SECONDS": "0.1"})
    gmail.latency = 0.3  # six batch requests: about two seconds of fetching inside the run's only page
    seen: list[tuple[int, int, int | None]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            runs = sync_runs(business_id)
            if runs:
                seen.append((runs[0].pages_done, runs[0].messages_fetched, runs[0].messages_estimated))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        summary = gmail_sync(business_id=business_id, mode="full")
    finally:
        done.set()
        watcher.join()

    assert summary["pages_done"] == 1
    within_the_page = [(fetched, estimate) for pages, fetched, estimate in seen if pages == 0 and fetched > 0]
    assert any(0 < fetched < len(messages) for fetched, _ in within_the_page)
    assert all(estimate == len(messages) for _, estimate in within_the_page)
    (run,) = sync_runs(business_id)
    assert run.messages_fetched == len(messages)
    assert run.quota_units == 1 + 5 + 20 * len(messages)  # getProfile, one listing, the fetches
