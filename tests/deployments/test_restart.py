"""An operator restarts `receipts up` in the middle of a sync — once with Ctrl-C, once by killing everything —
and starts it again: no run is left Running or Cancelling in Prefect or in our database, and the next sync a user
asks for is accepted at once and stores every receipt exactly once.

Production timings (10 s run heartbeats, stale after 45 s): on the machine that ran the dead run, its process is
seen gone at once (receipt_sync/process_identity.py), so nothing here waits for a heartbeat to go stale.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from models.db import dispose_engines, session_scope
from models.runs import SyncRun
from tests.conftest import SettingsOverride
from tests.deployments.conftest import REFRESH_TOKEN, UpProcess, running_up, stop_up
from tests.deployments.helpers import stored_message_ids, wait_for
from tests.factories import connect_gmail, make_token
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages, well_formed_stored
from tests.fixtures.postgres import TEMPLATE_DB, PostgresServer
from tests.fixtures.prefect_server import descendants, kill_tree

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MESSAGES = 40  # four pages of 10
UNFINISHED = ["SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "PAUSED"]


@pytest.fixture
def restart_gmail() -> Iterator[FakeGmailServer]:
    with FakeGmailServer(refresh_tokens=[REFRESH_TOKEN], address="owner@restart.example", seed=11) as server:
        yield server


@pytest.fixture
def stack_settings(
    pg_server: PostgresServer, restart_gmail: FakeGmailServer, override_settings: SettingsOverride
) -> Iterator[dict[str, str]]:
    """What every `receipts up` of the test starts with: the same databases and data folder each time."""
    data = Path(tempfile.mkdtemp(prefix="receipts-restart-"))
    settings = {
        "DATABASE_URL": pg_server.url(pg_server.create_database(template=TEMPLATE_DB)),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": pg_server.url(pg_server.create_database(), driver="asyncpg"),
        "DATA_DIR": str(data),
        "STORAGE_URL": str(data / "documents"),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "GMAIL_API_ENDPOINT": restart_gmail.url,
        "GOOGLE_TOKEN_URI": restart_gmail.token_uri,
        "GOOGLE_CLIENT_ID": "restart-client.apps.example",
        "GOOGLE_CLIENT_SECRET": "restart-client-secret",
        "GMAIL_PAGE_SIZE": "10",
        "GMAIL_RECEIPT_QUERY": "",
        "GMAIL_QUOTA_UNITS_PER_MINUTE": "600000",
        "GMAIL_PROJECT_RATE_LIMIT": "false",
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    override_settings({k: v for k, v in settings.items() if not k.startswith("PREFECT_")})
    yield settings
    dispose_engines()
    shutil.rmtree(data, ignore_errors=True)


@contextmanager
def up_once(settings: dict[str, str]) -> Iterator[UpProcess]:
    with running_up(settings) as up:
        yield up


def _runs(business_id: int) -> list[SyncRun]:
    with session_scope() as session:
        runs = list(session.scalars(select(SyncRun).where(SyncRun.business_id == business_id).order_by(SyncRun.id)))
        session.expunge_all()
    return runs


def _unfinished_flow_runs(up: UpProcess) -> list[dict[str, Any]]:
    body = {"flow_runs": {"tags": {"all_": ["gmail-sync"]}, "state": {"type": {"any_": UNFINISHED}}}}
    return httpx.post(f"{up.prefect_api_url}/flow_runs/filter", json=body, timeout=30).json()


def _sync(up: UpProcess, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(f"{up.api_url}/api/receipts/sync", json={"mode": "full"}, headers=headers, timeout=60)
    assert response.status_code == 202, response.text
    return response.json()


def _mid_way(business_id: int) -> SyncRun | None:
    runs = [r for r in _runs(business_id) if r.status == "running" and r.pages_done >= 1]
    return runs[-1] if runs else None


def test_up_restarted_mid_sync_leaves_nothing_running_and_the_next_sync_is_accepted_at_once(
    stack_settings: dict[str, str], restart_gmail: FakeGmailServer
) -> None:
    mailbox = sample_messages(MESSAGES, seed=53)
    load(restart_gmail, mailbox)
    business_id = connect_gmail("Restart Ltd", REFRESH_TOKEN)
    headers = {"Authorization": f"Bearer {make_token(business_id)}"}
    restart_gmail.latency = 0.3  # a page takes a few seconds: the sync is caught mid-way

    for stop in ("ctrl-c", "kill everything"):
        with up_once(stack_settings) as up:
            assert _unfinished_flow_runs(up) == []  # whatever the last stop left was reconciled at start
            run = _sync(up, headers)
            wait_for(lambda: _mid_way(business_id), f"a sync with a page done ({stop})", timeout=180, every=0.2)
            if stop == "ctrl-c":
                assert stop_up(up, signal.SIGINT) == 0
            else:
                for pid in [up.proc.pid, *descendants(up.proc.pid)]:
                    kill_tree(pid)
                up.proc.wait(timeout=30)
        assert any(r.id == run["id"] and r.pages_done < MESSAGES // 10 for r in _runs(business_id))

    restart_gmail.latency = 0.0
    with up_once(stack_settings) as up:
        assert _unfinished_flow_runs(up) == []
        assert [r.status for r in _runs(business_id)] == ["failed", "failed"], _runs(business_id)
        final = _sync(up, headers)  # accepted at once: no 409 for a dead run, no wait for a stale heartbeat
        wait_for(
            lambda: next((r for r in _runs(business_id) if r.id == final["id"] and r.status == "completed"), None),
            "the sync after the restarts",
            timeout=240,
        )
        stored = stored_message_ids(business_id)
        assert len(stored) == len(set(stored))  # each receipt once, across three runs
        assert well_formed_stored(set(stored), mailbox) == receipt_ids(mailbox)
        wait_for(lambda: not _unfinished_flow_runs(up), "Prefect's final state of the last run", timeout=60)
