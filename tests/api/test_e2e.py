"""End to end with real processes: PostgreSQL, `prefect server`, a worker, the API under uvicorn, fake Gmail.

POST /api/receipts/sync → 202 → the worker runs the `gmail-sync` deployment (registered from prefect.yaml
with `prefect deploy`) → GET /sync/latest shows it completed with its counters → GET /api/receipts lists
exactly the mailbox's receipts.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from deployments.automations import zombie_automation
from receipt_sync.polling import poll_until
from receipt_sync.settings import get_settings
from services.prefect_access import prefect_client
from tests.conftest import SettingsOverride
from tests.factories import bearer, connect_gmail, make_token
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load, receipt_ids, sample_messages
from tests.fixtures.prefect_server import (
    REPO_ROOT,
    VENV_BIN,
    PrefectServer,
    api_server,
    delete_all_flow_runs,
    kill_hard,
    prefect_worker,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def product_env(
    with_prefect: PrefectServer, api_env: dict[str, str], gmail: FakeGmailServer, override_settings: SettingsOverride
) -> dict[str, str]:
    """What the worker's flow processes and the API need, passed to them through the environment."""
    env = {
        **api_env,
        "PREFECT_API_URL": with_prefect.api_url,
        "GMAIL_API_ENDPOINT": gmail.url,
        "GOOGLE_TOKEN_URI": gmail.token_uri,
        "GOOGLE_CLIENT_ID": "e2e-client.apps.example",
        "GOOGLE_CLIENT_SECRET": "e2e-client-secret",
        "GMAIL_PAGE_SIZE": "20",
    }
    override_settings(
        {k: env[k] for k in ("GMAIL_API_ENDPOINT", "GOOGLE_TOKEN_URI", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")}
    )
    return env


def deploy_from_prefect_yaml(server: PrefectServer) -> None:
    cmd = [str(VENV_BIN / "prefect"), "--no-prompt", "deploy", "--name", "gmail-sync", "--name", "receipt-deletion"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=server.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def new_business_with_mailbox(name: str) -> dict[str, str]:
    """A business with the fake Gmail connected; returns its member's Authorization header."""
    return bearer(make_token(connect_gmail(name)))


def wait_for(
    http: httpx.Client, path: str, headers: dict[str, str], done: Callable[[dict], bool], timeout: float
) -> dict:
    last: dict = {}

    def answer() -> dict | None:
        last.update(body := http.get(path, headers=headers).json())
        return body if done(body) else None

    try:
        return poll_until(answer, what=path, timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"{path} not as expected in {timeout:.0f} s: {last}") from None


def finished(run: dict) -> bool:
    """Our record closed and, when reported, Prefect's state final too (it lands a moment after ours)."""
    prefect_state = (run.get("prefect_state") or {}).get("type")
    return run["status"] not in ("queued", "running") and prefect_state not in ("SCHEDULED", "PENDING", "RUNNING")


def wait_for_finish(http: httpx.Client, headers: dict[str, str], timeout: float = 150.0) -> dict:
    return wait_for(http, "/api/receipts/sync/latest", headers, finished, timeout)


def wait_for_deletion(http: httpx.Client, headers: dict[str, str], run_id: int, timeout: float = 150.0) -> dict:
    return wait_for(http, f"/api/receipts/deletions/{run_id}", headers, finished, timeout)


def test_sync_then_deletion_through_the_api_run_on_the_worker(
    product_env: dict[str, str], gmail: FakeGmailServer, with_prefect: PrefectServer
) -> None:
    messages = [m for m in sample_messages(40, seed=21) if m.truth.kind != "malformed"]
    load(gmail, messages)
    headers = new_business_with_mailbox("Acme Ltd")
    deploy_from_prefect_yaml(with_prefect)
    delete_all_flow_runs(with_prefect)  # runs queued by other tests belong to other databases
    worker_env = {k: v for k, v in product_env.items() if not k.startswith("PREFECT_")}
    with (
        prefect_worker(with_prefect, env=worker_env),
        api_server(with_prefect.env(**worker_env)) as base,
        httpx.Client(base_url=base, timeout=30.0) as http,
    ):
        accepted = http.post("/api/receipts/sync", json={"mode": "full"}, headers=headers)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "queued" and accepted.json()["flow_run_id"]
        done = wait_for_finish(http, headers)
        assert done["status"] == "completed", done
        assert done["prefect_state"]["type"] == "COMPLETED"
        expected = receipt_ids(messages)
        assert done["receipts_saved"] == len(expected) and done["messages_scanned"] == len(messages)
        listed = http.get("/api/receipts?limit=200", headers=headers).json()["items"]
        assert {r["source_message_id"] for r in listed} == expected

        deletion = http.post("/api/receipts/deletions", json={"all": True}, headers=headers)
        assert deletion.status_code == 202, deletion.text
        finished = wait_for_deletion(http, headers, deletion.json()["id"])
        assert finished["status"] == "completed", finished
        assert finished["succeeded"] == len(expected) and finished["failed_count"] == 0
        assert finished["attachments_deleted"] > 0 and finished["attachments_failed"] == 0
        assert http.get("/api/receipts?limit=200", headers=headers).json()["items"] == []


def test_a_killed_worker_s_run_goes_stale_and_the_next_trigger_resumes_it_from_its_checkpoint(
    product_env: dict[str, str], gmail: FakeGmailServer, with_prefect: PrefectServer
) -> None:
    messages = [m for m in sample_messages(96, seed=23) if m.truth.kind != "malformed"]
    load(gmail, messages)
    gmail.latency = 0.25  # slow enough to kill the worker between pages
    headers = new_business_with_mailbox("Lost Worker Ltd")
    deploy_from_prefect_yaml(with_prefect)
    delete_all_flow_runs(with_prefect)
    worker_env = {k: v for k, v in product_env.items() if not k.startswith("PREFECT_")}
    worker_env.update(GMAIL_PAGE_SIZE="8", SYNC_HEARTBEAT_SECONDS="1", SYNC_STALE_AFTER_SECONDS="6")
    latest = "/api/receipts/sync/latest"
    with (
        api_server(with_prefect.env(**worker_env)) as base,
        httpx.Client(base_url=base, timeout=30.0) as http,
    ):
        with prefect_worker(with_prefect, env=worker_env) as worker:
            first = http.post("/api/receipts/sync", json={"mode": "full"}, headers=headers)
            assert first.status_code == 202, first.text
            wait_for(http, latest, headers, lambda r: r["status"] == "running" and r["pages_done"] >= 2, 120)
            kill_hard(worker)  # the worker and the flow process it started: nobody closes the run
        lost = wait_for(http, latest, headers, lambda r: r["stale"], 30)
        assert lost["id"] == first.json()["id"] and lost["status"] == "running"
        assert lost["messages_scanned"] < len(messages)
        gmail.latency = 0.0
        gmail.clear_requests()

        with prefect_worker(with_prefect, env=worker_env):
            second = http.post("/api/receipts/sync", json={"mode": "full"}, headers=headers)
            assert second.status_code == 202, second.text
            old = http.get(f"/api/receipts/sync/runs/{lost['id']}", headers=headers).json()
            assert old["status"] == "failed" and old["error_message"].startswith(
                ("stale: no heartbeat", "stale: its process")
            )
            assert second.json()["rerun_of_id"] == lost["id"]
            done = wait_for_finish(http, headers, timeout=240)

        assert done["status"] == "completed" and done["id"] == second.json()["id"], done
        listings = gmail.calls("messages.list")
        assert listings and all("pageToken=" in call.target for call in listings)  # never from the top again
        assert done["messages_scanned"] + lost["messages_scanned"] <= len(messages)
        listed = http.get("/api/receipts?limit=200", headers=headers).json()["items"]
        assert sorted(r["source_message_id"] for r in listed) == sorted(receipt_ids(messages))


def test_the_zombie_automation_marks_a_killed_worker_s_run_crashed_and_the_api_shows_it_failed(
    product_env: dict[str, str], gmail: FakeGmailServer, with_prefect: PrefectServer
) -> None:
    """The automation `receipts deploy` installs, with its window shortened from 240 s to 40 s (heartbeats from
    prefect.yaml: every 30 s): a dead worker's run must not stay Running in the Prefect UI or in our API."""
    messages = sample_messages(96, seed=24)
    load(gmail, messages)
    gmail.latency = 0.25
    headers = new_business_with_mailbox("Zombie Ltd")
    deploy_from_prefect_yaml(with_prefect)
    delete_all_flow_runs(with_prefect)
    worker_env = {k: v for k, v in product_env.items() if not k.startswith("PREFECT_")}
    worker_env.update(GMAIL_PAGE_SIZE="8")
    with prefect_client(get_settings()) as prefect:
        automation_id = prefect.create_automation(zombie_automation(within=timedelta(seconds=40)))
    try:
        with (
            api_server(with_prefect.env(**worker_env)) as base,
            httpx.Client(base_url=base, timeout=30.0) as http,
        ):
            with prefect_worker(with_prefect, env=worker_env) as worker:
                accepted = http.post("/api/receipts/sync", json={"mode": "full"}, headers=headers)
                assert accepted.status_code == 202, accepted.text
                running = lambda r: r["status"] == "running" and r["pages_done"] >= 1  # noqa: E731
                wait_for(http, "/api/receipts/sync/latest", headers, running, 120)
                kill_hard(worker)

            crashed = wait_for(
                http, "/api/receipts/sync/latest", headers, lambda r: r["prefect_state"]["type"] != "RUNNING", 150
            )
        assert crashed["prefect_state"]["type"] == "CRASHED", crashed
        assert crashed["status"] == "failed" and "Crashed" in crashed["error_message"]
        assert not crashed["stale"]  # Prefect noticed before our own 3-minute stale rule had to
    finally:
        with prefect_client(get_settings()) as prefect:
            prefect.delete_automation(automation_id)
