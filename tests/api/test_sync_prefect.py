"""Triggering through a real `prefect server`: 503 without a worker, one run per burst, stale/crashed runs."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.base import utcnow
from models.db import session_scope
from models.runs import SyncRun
from tests.api.conftest import World
from tests.api.test_sync import sync_run_count
from tests.conftest import SettingsOverride
from tests.fixtures.prefect_server import PrefectServer, delete_all_flow_runs
from tests.fixtures.slow_proxy import slow_proxy

pytestmark = pytest.mark.usefixtures("with_prefect")


def flow_run(prefect: PrefectServer, flow_run_id: str) -> dict:
    return httpx.get(f"{prefect.api_url}/flow_runs/{flow_run_id}", timeout=5).json()


def flow_runs_tagged(prefect: PrefectServer, tag: str) -> list[dict]:
    """The gmail-sync flow runs with `tag` (deletion runs of earlier tests carry business tags too)."""
    body = {"flow_runs": {"tags": {"all_": [tag, "gmail-sync"]}}}
    return httpx.post(f"{prefect.api_url}/flow_runs/filter", json=body, timeout=5).json()


def test_no_worker_on_the_pool_is_503_naming_the_worker_to_start(
    client: TestClient, world: World, override_settings: SettingsOverride
) -> None:
    override_settings({"SYNC_DEPLOYMENT": "gmail-sync/no-worker"})
    resp = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"] == "no_worker"
    assert resp.json()["action"] == "start a worker: prefect worker start --pool empty"
    assert sync_run_count(world.a.business_id) == 0


@pytest.mark.usefixtures("idle_worker")
def test_fifty_concurrent_triggers_make_exactly_one_run(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    delete_all_flow_runs(prefect)  # business ids repeat across test databases; start from a clean slate
    before = {r["id"] for r in flow_runs_tagged(prefect, f"business:{world.a.business_id}")}

    def trigger(_: int) -> httpx.Response:
        return client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(trigger, range(50)))
    assert Counter(r.status_code for r in responses) == {202: 1, 409: 49}
    accepted = next(r.json() for r in responses if r.status_code == 202)
    assert accepted["status"] == "queued" and accepted["flow_run_id"]
    assert {r.json()["run"]["id"] for r in responses if r.status_code == 409} == {accepted["id"]}
    runs = [r for r in flow_runs_tagged(prefect, f"business:{world.a.business_id}") if r["id"] not in before]
    seen = [(r["id"], r["name"], r["state"]["type"], r["created"]) for r in runs]
    assert [r["id"] for r in runs] == [accepted["flow_run_id"]], seen
    assert runs[0]["name"] == f"gmail-sync/alpha-ltd-{world.a.business_id}/full"
    assert "business-name:Alpha Ltd" in runs[0]["tags"]
    assert runs[0]["parameters"]["sync_run_id"] == accepted["id"]
    assert accepted["prefect_state"]["type"] == "SCHEDULED"


@pytest.mark.usefixtures("idle_worker")
def test_a_trigger_whose_answer_prefect_lost_after_creating_the_run_leaves_exactly_one_flow_run(
    client: TestClient, world: World, prefect: PrefectServer, override_settings: SettingsOverride
) -> None:
    delete_all_flow_runs(prefect)  # business ids repeat across test databases; start from a clean slate
    with slow_proxy(prefect.api_url.removesuffix("/api")) as proxy:
        override_settings({"PREFECT_API_URL": f"{proxy.url}/api"})
        # Prefect creates the flow run, its answer comes after the client's timeout (PREFECT_API_TIMEOUT_SECONDS 2).
        proxy.slow_answers(r"/deployments/[^/]+/create_flow_run$", n=1, delay=4.0)
        response = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)

    assert response.status_code == 202, response.text
    accepted = response.json()
    runs = flow_runs_tagged(prefect, f"business:{world.a.business_id}")
    assert [r["id"] for r in runs] == [accepted["flow_run_id"]]  # the lost answer's run, not a second one
    assert runs[0]["parameters"]["sync_run_id"] == accepted["id"]
    assert sum(seen.endswith("/create_flow_run") for seen in proxy.seen) == 2  # asked twice, one run made


@pytest.mark.usefixtures("idle_worker")
def test_a_stale_run_is_failed_and_its_flow_run_crashed_when_the_next_sync_is_requested(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    first = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    with session_scope() as session:  # the worker died mid-run: a heartbeat four minutes old
        run = session.get(SyncRun, first["id"])
        run.status, run.heartbeat_at = "running", utcnow() - timedelta(minutes=4)
        run.checkpoint = {"page_token": "page-7"}
    assert client.get(f"/api/receipts/sync/runs/{first['id']}", headers=world.a.headers).json()["stale"] is True
    second = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    assert second.status_code == 202, second.text
    old = client.get(f"/api/receipts/sync/runs/{first['id']}", headers=world.a.headers).json()
    assert old["status"] == "failed" and old["error_message"].startswith("stale: no heartbeat")
    # Crashed, not Cancelling: no process is left to acknowledge a cancellation (it would stay Cancelling).
    assert flow_run(prefect, first["flow_run_id"])["state"]["type"] == "CRASHED"
    assert second.json()["rerun_of_id"] == first["id"]  # the same sync, so it carries on where the lost one was
    with session_scope() as session:
        assert session.get(SyncRun, second.json()["id"]).checkpoint == {"page_token": "page-7"}
    rerun = client.post(f"/api/receipts/sync/runs/{first['id']}/rerun", headers=world.a.headers)
    assert rerun.status_code == 409  # the new run is active: one at a time, even for reruns


@pytest.mark.usefixtures("idle_worker")
def test_a_run_prefect_marked_crashed_is_never_shown_running_and_can_be_rerun(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    first = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    with session_scope() as session:
        session.get(SyncRun, first["id"]).checkpoint = {"page_token": "page-3"}
    crash = {"state": {"type": "CRASHED", "name": "Crashed", "message": "worker lost"}, "force": True}
    httpx.post(f"{prefect.api_url}/flow_runs/{first['flow_run_id']}/set_state", json=crash, timeout=5)
    status = client.get("/api/receipts/sync/latest", headers=world.a.headers).json()
    assert status["status"] == "failed" and status["prefect_state"]["type"] == "CRASHED"
    assert "Crashed" in status["error_message"]
    rerun = client.post(f"/api/receipts/sync/runs/{first['id']}/rerun", headers=world.a.headers)
    assert rerun.status_code == 202, rerun.text
    assert rerun.json()["rerun_of_id"] == first["id"]
    with session_scope() as session:
        new = session.scalars(select(SyncRun).where(SyncRun.rerun_of_id == first["id"])).one()
        assert new.checkpoint == {"page_token": "page-3"} and new.trigger == "rerun"
    assert "rerun" in flow_run(prefect, rerun.json()["flow_run_id"])["tags"]


@pytest.mark.usefixtures("idle_worker")
def test_cancel_stops_the_flow_run_and_frees_the_business(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    first = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    resp = client.post(f"/api/receipts/sync/runs/{first['id']}/cancel", headers=world.a.headers)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert flow_run(prefect, first["flow_run_id"])["state"]["type"] in ("CANCELLING", "CANCELLED")
    again = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    assert again.status_code == 202


@pytest.mark.usefixtures("idle_worker")
def test_worker_config_and_job_health_show_the_pool_and_its_worker(client: TestClient, world: World) -> None:
    config = client.get("/api/jobs/worker/config", headers=world.admin_headers).json()
    assert config["work_pool"]["name"] == "receipts" and config["online_workers"] >= 1
    assert "gmail-sync/gmail-sync" in config["deployments"]
    assert {"name": "default", "paused": False} in config["queues"]
    health = client.get("/api/jobs/health", headers=world.admin_headers).json()
    assert health["ok"] is True and health["prefect_api"] == "ok" and health["workers"]
    # Members learn whether it works, not the worker hosts or internal URLs.
    assert client.get("/api/jobs/worker/config", headers=world.a.headers).status_code == 403
    member = client.get("/api/jobs/health", headers=world.a.headers).json()
    assert member == {"ok": True, "database": "ok", "prefect_api": "ok"}
    assert client.get("/readyz").status_code == 200
