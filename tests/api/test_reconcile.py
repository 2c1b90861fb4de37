"""The reconciler against a real `prefect server`: no run is left Running, Scheduled or Cancelling once its
process is gone, whatever Prefect's automations remember; a stale run can be rerun from the API.

Runs are aged by setting their timestamps; Prefect states are set through its REST API as a dead worker
would have left them.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionRun
from models.runs import SyncRun
from receipt_sync import process_identity
from receipt_sync.settings import get_settings
from services.reconcile import reconcile_runs
from tests.api.conftest import World
from tests.conftest import SettingsOverride
from tests.fixtures.prefect_server import PrefectServer

pytestmark = pytest.mark.usefixtures("with_prefect", "idle_worker")


def flow_run(prefect: PrefectServer, flow_run_id: str) -> dict:
    return httpx.get(f"{prefect.api_url}/flow_runs/{flow_run_id}", timeout=5).json()


def set_prefect_state(prefect: PrefectServer, flow_run_id: str, state_type: str, name: str) -> None:
    body = {"state": {"type": state_type, "name": name}, "force": True}
    resp = httpx.post(f"{prefect.api_url}/flow_runs/{flow_run_id}/set_state", json=body, timeout=5)
    assert resp.status_code in (200, 201), resp.text


def age(
    run_id: int,
    *,
    status: str,
    heartbeat_seconds_ago: float | None,
    created_seconds_ago: float = 0,
    model: type[SyncRun] | type[DeletionRun] = SyncRun,
) -> None:
    with session_scope() as session:
        run = session.get(model, run_id)
        run.status = status
        run.heartbeat_at = utcnow() - timedelta(seconds=heartbeat_seconds_ago) if heartbeat_seconds_ago else None
        run.created_at = utcnow() - timedelta(seconds=created_seconds_ago)


def reconcile() -> tuple[list[int], list[str]]:
    result = reconcile_runs(get_settings())
    assert result.prefect_error is None
    return [d.run_id for d in result.failed], result.crashed_flow_runs


def trigger(client: TestClient, headers: dict[str, str]) -> dict:
    response = client.post("/api/receipts/sync", json={"mode": "full"}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def record(run_id: int) -> SyncRun:
    with session_scope() as session:
        run = session.get(SyncRun, run_id)
        session.expunge(run)
        return run


def test_a_running_run_whose_heartbeat_stopped_is_failed_and_its_flow_run_crashed_not_cancelled(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    dead = trigger(client, world.a.headers)
    live = trigger(client, world.b.headers)
    for run in (dead, live):
        set_prefect_state(prefect, run["flow_run_id"], "RUNNING", "Running")
    age(dead["id"], status="running", heartbeat_seconds_ago=get_settings().sync_stale_after_seconds + 5)
    age(live["id"], status="running", heartbeat_seconds_ago=1)

    failed, crashed = reconcile()

    assert dead["id"] in failed and live["id"] not in failed
    assert dead["flow_run_id"] in crashed
    assert record(dead["id"]).status == "failed"
    assert (record(dead["id"]).error_message or "").startswith("stale: no heartbeat")
    state = flow_run(prefect, dead["flow_run_id"])["state"]
    assert state["type"] == "CRASHED" and "no heartbeat" in state["message"]
    assert record(live["id"]).status == "running"
    assert flow_run(prefect, live["flow_run_id"])["state"]["type"] == "RUNNING"


def test_a_flow_run_left_cancelling_for_a_run_already_failed_is_crashed(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    """What the old trigger left behind: the record failed as stale, the flow run Cancelling for good."""
    run = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    set_prefect_state(prefect, run["flow_run_id"], "RUNNING", "Running")
    set_prefect_state(prefect, run["flow_run_id"], "CANCELLING", "Cancelling")
    with session_scope() as session:
        session.get(SyncRun, run["id"]).status = "failed"
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "CANCELLING"

    _, crashed = reconcile()

    assert run["flow_run_id"] in crashed
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "CRASHED"
    assert reconcile() == ([], [])  # a second pass finds nothing left to do


def test_a_queued_run_no_live_worker_picks_up_is_failed_saying_so(
    client: TestClient, world: World, prefect: PrefectServer, override_settings: SettingsOverride
) -> None:
    run = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    age(run["id"], status="queued", heartbeat_seconds_ago=None, created_seconds_ago=10_000)
    assert reconcile() == ([], [])  # a live worker polls the pool: the run waits its turn (e.g. for a slot)

    override_settings({"PREFECT_WORK_POOL": "empty"})  # now nobody polls the pool the runs belong to
    failed, crashed = reconcile()

    assert failed == [run["id"]] and crashed == [run["flow_run_id"]]
    assert record(run["id"]).error_message == (
        f"stale: no worker picked it up within {int(get_settings().sync_pickup_timeout_seconds)} s"
    )
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "CRASHED"


def test_a_stale_run_can_be_rerun_from_the_api_and_resumes_its_checkpoint(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    first = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    set_prefect_state(prefect, first["flow_run_id"], "RUNNING", "Running")
    age(first["id"], status="running", heartbeat_seconds_ago=get_settings().sync_stale_after_seconds + 5)
    with session_scope() as session:
        session.get(SyncRun, first["id"]).checkpoint = {"page_token": "page-4"}

    rerun = client.post(f"/api/receipts/sync/runs/{first['id']}/rerun", headers=world.a.headers)

    assert rerun.status_code == 202, rerun.text
    assert rerun.json()["rerun_of_id"] == first["id"]
    assert record(first["id"]).status == "failed"
    assert record(rerun.json()["id"]).checkpoint == {"page_token": "page-4"}
    assert flow_run(prefect, first["flow_run_id"])["state"]["type"] == "CRASHED"


def test_a_live_running_run_cannot_be_rerun(client: TestClient, world: World) -> None:
    first = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers).json()
    age(first["id"], status="running", heartbeat_seconds_ago=1)
    rerun = client.post(f"/api/receipts/sync/runs/{first['id']}/rerun", headers=world.a.headers)
    assert rerun.status_code == 409
    assert record(first["id"]).status == "running"


def test_a_sync_that_just_closed_its_record_is_not_crashed_while_its_flow_run_ends(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    """A live process completes its record a moment before its flow run: that moment is not a death. Once the
    record has been final past the stale threshold with the flow run still Running, the process is gone."""
    run = trigger(client, world.a.headers)
    set_prefect_state(prefect, run["flow_run_id"], "RUNNING", "Running")
    with session_scope() as session:
        record_ = session.get(SyncRun, run["id"])
        record_.status, record_.finished_at = "completed", utcnow()

    assert reconcile() == ([], [])
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "RUNNING"

    with session_scope() as session:
        session.get(SyncRun, run["id"]).finished_at = utcnow() - timedelta(
            seconds=get_settings().sync_stale_after_seconds + 5
        )
    _, crashed = reconcile()
    assert crashed == [run["flow_run_id"]]
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "CRASHED"


def deletion(client: TestClient, headers: dict[str, str]) -> dict:
    response = client.post("/api/receipts/deletions", json={"all": True}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_deletion_whose_heartbeat_stopped_is_failed_and_its_flow_run_crashed_not_left_cancelling(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    dead, live = deletion(client, world.a.headers), deletion(client, world.b.headers)
    for run in (dead, live):
        set_prefect_state(prefect, run["flow_run_id"], "RUNNING", "Running")
    stale = get_settings().sync_stale_after_seconds + 5
    age(dead["id"], status="running", heartbeat_seconds_ago=stale, model=DeletionRun)
    age(live["id"], status="running", heartbeat_seconds_ago=1, model=DeletionRun)

    failed, crashed = reconcile()

    assert dead["id"] in failed and live["id"] not in failed
    assert crashed == [dead["flow_run_id"]]
    assert flow_run(prefect, dead["flow_run_id"])["state"]["type"] == "CRASHED"
    assert flow_run(prefect, live["flow_run_id"])["state"]["type"] == "RUNNING"
    shown = client.get(f"/api/receipts/deletions/{dead['id']}", headers=world.a.headers).json()
    assert shown["status"] == "failed" and shown["error_message"].startswith("stale: no heartbeat")
    assert deletion(client, world.a.headers)["id"] != dead["id"]  # the business can delete again at once


def test_a_deletion_flow_run_left_cancelling_after_its_process_died_is_crashed(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    """Cancelled through the API while its process was already gone: nobody acknowledges the cancellation."""
    run = deletion(client, world.a.headers)
    set_prefect_state(prefect, run["flow_run_id"], "RUNNING", "Running")
    cancelled = client.post(f"/api/receipts/deletions/{run['id']}/cancel", headers=world.a.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "CANCELLING"
    assert reconcile() == ([], [])  # a live process would acknowledge within seconds: give it the threshold

    with session_scope() as session:
        session.get(DeletionRun, run["id"]).finished_at = utcnow() - timedelta(
            seconds=get_settings().sync_stale_after_seconds + 5
        )
    _, crashed = reconcile()

    assert crashed == [run["flow_run_id"]]
    assert flow_run(prefect, run["flow_run_id"])["state"]["type"] == "CRASHED"
    assert client.get(f"/api/receipts/deletions/{run['id']}", headers=world.a.headers).json()["status"] == "cancelled"


def exited_process() -> str:
    """The identity of a process of this machine that has exited (a killed worker's flow process)."""
    code = "from receipt_sync import process_identity as p; print(p.current())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


@pytest.mark.skipif(process_identity.current() is None, reason="needs Linux's /proc")
def test_a_run_whose_process_is_gone_is_resumed_by_the_next_trigger_without_waiting_for_its_heartbeat(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    """A worker killed (or `receipts up` restarted) a second ago: its heartbeat still looks fresh, but on this
    machine the process that opened the run is gone, so the next trigger fails it and resumes its checkpoint."""
    dead = trigger(client, world.a.headers)
    set_prefect_state(prefect, dead["flow_run_id"], "RUNNING", "Running")
    age(dead["id"], status="running", heartbeat_seconds_ago=1)
    with session_scope() as session:
        run = session.get(SyncRun, dead["id"])
        run.process, run.checkpoint = exited_process(), {"page_token": "page-2"}
    live = trigger(client, world.b.headers)
    set_prefect_state(prefect, live["flow_run_id"], "RUNNING", "Running")
    age(live["id"], status="running", heartbeat_seconds_ago=1)
    with session_scope() as session:
        session.get(SyncRun, live["id"]).process = process_identity.current()  # alive: this test's process

    again = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    refused = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.b.headers)

    assert again.status_code == 202, again.text
    assert again.json()["rerun_of_id"] == dead["id"]
    assert record(again.json()["id"]).checkpoint == {"page_token": "page-2"}
    assert (record(dead["id"]).error_message or "").startswith("stale: its process (pid ")
    assert flow_run(prefect, dead["flow_run_id"])["state"]["type"] == "CRASHED"
    assert refused.status_code == 409  # a live process's run is left alone
