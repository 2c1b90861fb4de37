"""Horizontal scale, proven here (issue 11 item 7): one Prefect server on PostgreSQL, three workers, the API.

`receipts up` runs the Prefect server (on the test PostgreSQL), its deployments, its worker and the API, all
authenticated (PREFECT_SERVER_API_AUTH_STRING); two more `prefect worker start --pool receipts --limit 2`
join the pool, as worker machines would. A dozen businesses connect the one fake Gmail, which answers some
calls with 503, 429 and truncated bodies. One `incremental-syncs` round runs through its deployment; while it
fans out, the worker running a sync is SIGKILLed with everything it started (its machine lost). The next round
— what the schedule does 15 minutes later — reconciles the dead runs and syncs those mailboxes again. In the
end every mailbox synced exactly once per needed run, each receipt is stored once, and nothing is left
non-final in Prefect or in our database.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from models.base import utcnow
from models.db import dispose_engines, session_scope
from models.queries.sync_runs import active_sync_runs
from models.runs import SyncRun
from receipt_sync.settings import get_settings
from services.reconcile import dead_reason
from tests.conftest import SettingsOverride
from tests.deployments.conftest import REFRESH_TOKEN, UpProcess, running_up
from tests.deployments.helpers import stored_message_ids, wait_for
from tests.factories import connect_gmail, make_token
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages, well_formed_stored
from tests.fixtures.postgres import TEMPLATE_DB, PostgresServer
from tests.fixtures.prefect_server import PrefectServer, descendants, kill_tree, prefect_workers

# ~3 min on a quiet 2-core machine; 6-11 min when other work oversubscribes the cores (every flow run is a process).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

BUSINESSES = 12
MESSAGES = 30  # three pages of 10: a sync is caught with a page done and two to go
AUTH = ("fleet", "fleet-prefect-password-0123")
UNFINISHED = ["SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "PAUSED"]
ROUND = "incremental-syncs/incremental-syncs"


class Fleet:
    """The running stack, seen the way an operator and a user see it: Prefect's API, ours, the database."""

    def __init__(self, up: UpProcess, workers: dict[str, int]) -> None:
        self.up = up
        self.workers = workers  # name -> pid
        self.prefect = httpx.Client(base_url=up.prefect_api_url, auth=AUTH, timeout=30)

    def flow_runs(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        while True:
            page = self.prefect.post("/flow_runs/filter", json={**body, "limit": 200, "offset": len(runs)})
            page.raise_for_status()
            runs += page.json()
            if len(page.json()) < 200:
                return runs

    def run_round(self) -> str:
        """One `incremental-syncs` round through its deployment (the Prefect UI's Run); waits until it ends."""
        deployment = self.prefect.get(f"/deployments/name/{ROUND}").json()
        created = self.prefect.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
        created.raise_for_status()
        flow_run_id = created.json()["id"]

        def ended() -> dict[str, Any] | None:
            run = self.prefect.get(f"/flow_runs/{flow_run_id}").json()
            return run if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        final = wait_for(ended, "the incremental-syncs round", timeout=240)
        assert final["state"]["type"] == "COMPLETED", final["state"]
        return flow_run_id

    def pause_schedule(self) -> None:
        """No round fires by itself during the test; the auto-scheduled future rounds go with the change."""
        deployment = self.prefect.get(f"/deployments/name/{ROUND}").json()
        for schedule in deployment["schedules"]:
            url = f"/deployments/{deployment['id']}/schedules/{schedule['id']}"
            self.prefect.patch(url, json={"active": False}).raise_for_status()
        # Updating a deployment deletes its auto-scheduled runs (Prefect's server does it on every update).
        self.prefect.patch(f"/deployments/{deployment['id']}", json={"paused": False}).raise_for_status()

    def worker_running(self, flow_run_id: str) -> str:
        """Which worker's process tree holds the flow run's process (Prefect records its pid)."""
        pid = int(str(self.prefect.get(f"/flow_runs/{flow_run_id}").json()["infrastructure_pid"]).rsplit(":", 1)[-1])
        return next(name for name, worker in self.workers.items() if pid in descendants(worker))

    def facts(self, flow_run_ids: list[str]) -> dict[str, tuple[str, datetime]]:
        runs = self.flow_runs({"flow_runs": {"id": {"any_": flow_run_ids}}}) if flow_run_ids else []
        return {r["id"]: (r["state"]["type"], datetime.fromisoformat(r["state"]["timestamp"])) for r in runs}


@pytest.fixture
def fleet_gmail() -> Iterator[FakeGmailServer]:
    with FakeGmailServer(refresh_tokens=[REFRESH_TOKEN], address="owner@fleet.example", seed=7) as server:
        yield server


@pytest.fixture
def fleet(
    pg_server: PostgresServer, fleet_gmail: FakeGmailServer, override_settings: SettingsOverride
) -> Iterator[Fleet]:
    """`receipts up` (server, deployments, worker 1, API) plus workers 2 and 3; all stopped, trees and all."""
    data = Path(tempfile.mkdtemp(prefix="receipts-fleet-"))
    settings = {
        "DATABASE_URL": pg_server.url(pg_server.create_database(template=TEMPLATE_DB)),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": pg_server.url(pg_server.create_database(), driver="asyncpg"),
        "PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH),
        "DATA_DIR": str(data),
        "STORAGE_URL": str(data / "documents"),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "GMAIL_API_ENDPOINT": fleet_gmail.url,
        "GOOGLE_TOKEN_URI": fleet_gmail.token_uri,
        "GOOGLE_CLIENT_ID": "fleet-client.apps.example",
        "GOOGLE_CLIENT_SECRET": "fleet-client-secret",
        "GMAIL_PAGE_SIZE": "10",
        "GMAIL_RECEIPT_QUERY": "",
        "GMAIL_QUOTA_UNITS_PER_MINUTE": "600000",
        "GMAIL_PROJECT_RATE_LIMIT": "false",
        "GMAIL_RETRY_BASE_SECONDS": "0.05",
        "TASK_RETRY_BASE_SECONDS": "0.05",
        # A dead run is told from a live one within seconds here (production: 10 s beats, stale after 45 s).
        "SYNC_HEARTBEAT_SECONDS": "1",
        "SYNC_STALE_AFTER_SECONDS": "10",
        "WORKER_CONCURRENCY": "2",
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # workers poll every 2 s (Prefect's default: 10)
    }
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, data, ignore_errors=True)
        up = stack.enter_context(running_up(settings))
        override_settings({k: v for k, v in settings.items() if not k.startswith("PREFECT_")})
        stack.callback(dispose_engines)
        server = PrefectServer(up.prefect_api_url, data / "more-workers", data / "more-workers.log", auth=AUTH)
        server.home.mkdir()
        worker_env = {k: v for k, v in up.env.items() if not k.startswith("PREFECT_") or "WORKER" in k}
        workers = {"worker 1": up.child_pids()["worker"]}
        for n, proc in enumerate(stack.enter_context(prefect_workers(server, 2, env=worker_env, limit=2)), 2):
            stack.callback(_kill_flow_runs_of, proc.pid)  # flow runs are not in the worker's process group
            workers[f"worker {n}"] = proc.pid
        yield Fleet(up, workers)


def _kill_flow_runs_of(worker_pid: int) -> None:
    for pid in descendants(worker_pid):
        kill_tree(pid)


def _runs_by_business() -> dict[int, list[SyncRun]]:
    with session_scope() as session:
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        session.expunge_all()
    grouped: dict[int, list[SyncRun]] = {}
    for run in runs:
        grouped.setdefault(run.business_id, []).append(run)
    return grouped


def _victim(fleet: Fleet) -> SyncRun | None:
    """A sync with one page committed and two to go (Gmail slowed right after: it cannot finish before the kill)."""
    with session_scope() as session:
        runs = [r for r in active_sync_runs(session) if r.status == "running" and r.pages_done == 1 and r.flow_run_id]
        session.expunge_all()
    return runs[0] if runs else None


def _each_run_dead_or_alive(fleet: Fleet, killed_at: datetime) -> bool:
    """Every run not final is one the reconciler will end (the product's own rule), or is surely alive: beating
    since the kill, or still waiting in Prefect's queue for a live worker. Then the next round can tell them apart."""
    with session_scope() as session:
        active = active_sync_runs(session)
        session.expunge_all()
    facts = fleet.facts([r.flow_run_id for r in active if r.flow_run_id])
    for run in active:
        state, since = facts.get(run.flow_run_id or "", (None, None))
        dead = dead_reason(run, get_settings(), prefect_state=state, worker_alive=True, state_since=since)
        beating = run.status == "running" and run.heartbeat_at is not None and run.heartbeat_at > killed_at
        waiting = run.status == "queued" and state == "SCHEDULED"
        if not (dead or beating or waiting):
            return False
    return True


def test_a_round_over_a_fleet_with_a_worker_killed_mid_round_syncs_every_mailbox_exactly_once(
    fleet: Fleet, fleet_gmail: FakeGmailServer
) -> None:
    mailbox = sample_messages(MESSAGES, seed=47)
    load(fleet_gmail, mailbox)
    businesses = [connect_gmail(f"Fleet {n:02d}", REFRESH_TOKEN) for n in range(BUSINESSES)]
    fleet.pause_schedule()
    fleet_gmail.latency = 0.2  # a sync takes a few seconds: long enough to be caught mid-way
    fleet_gmail.fail_next(3, status=503)
    fleet_gmail.fail_next(3, status=429, method="messages.list")
    fleet_gmail.cut_next(3, "truncate")

    fleet.run_round()
    victim = wait_for(lambda: _victim(fleet), "a sync with a page done", timeout=180, every=0.1)
    fleet_gmail.latency = 5.0  # its next page cannot arrive before the kill
    worker = fleet.worker_running(victim.flow_run_id or "")
    kill_tree(fleet.workers[worker])  # the worker, its process group and every flow run it started
    killed_at = utcnow()
    fleet_gmail.latency = 0.0
    wait_for(lambda: _each_run_dead_or_alive(fleet, killed_at), "the killed runs to go stale", timeout=240, every=1)
    fleet.run_round()  # the next round: dead runs reconciled, their mailboxes synced again
    wait_for(lambda: not _active_runs(), "the second round's syncs", timeout=240, every=1)
    expected = receipt_ids(mailbox)
    by_business = _runs_by_business()
    assert sorted(by_business) == sorted(businesses)
    for business_id in businesses:
        runs = by_business[business_id]
        # One run per round that needed one: a second only after the first died (or failed on a fault).
        assert [r.status for r in runs] in (["completed"], ["failed", "completed"]), (business_id, runs)
        tagged = fleet.flow_runs({"flow_runs": {"tags": {"all_": [f"business:{business_id}", "gmail-sync"]}}})
        assert sorted(r["id"] for r in tagged) == sorted(r.flow_run_id for r in runs)
        stored = stored_message_ids(business_id)
        assert len(stored) == len(set(stored)), business_id  # each receipt once
        assert well_formed_stored(set(stored), mailbox) == expected, business_id
    # The killed sync failed as stale (the reconciler), its flow run Crashed; the next round synced it again.
    dead, rerun = by_business[victim.business_id]
    assert dead.id == victim.id and (dead.error_message or "").startswith("stale:"), dead.error_message
    assert fleet.prefect.get(f"/flow_runs/{dead.flow_run_id}").json()["state"]["type"] == "CRASHED"
    assert rerun.trigger == "schedule" and rerun.status == "completed"
    assert fleet.flow_runs({"flow_runs": {"state": {"type": {"any_": UNFINISHED}}}}) == []
    assert _active_runs() == []
    # What a user sees through the API: the latest sync completed, every receipt listed.
    for business_id in businesses:
        headers = {"Authorization": f"Bearer {make_token(business_id)}"}
        latest = httpx.get(f"{fleet.up.api_url}/api/receipts/sync/latest", headers=headers, timeout=30).json()
        assert latest["status"] == "completed", latest
    # The faults were served, and retried through.
    assert {503, 429} <= {r.status for r in fleet_gmail.requests} and fleet_gmail.cuts


def _active_runs() -> list[int]:
    with session_scope() as session:
        return [r.id for r in active_sync_runs(session)]
