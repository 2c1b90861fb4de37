"""The sweep through the API: switched per business, visible on runs, and a sync someone asks for never waits
behind a run that is only sweeping."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from models.base import utcnow
from tests.api.conftest import World
from tests.factories import add_sync_run, sync_runs


def test_a_business_switches_its_sweep_off_and_on(client: TestClient, world: World) -> None:
    shown = client.get("/api/receipts/sync/sweep", headers=world.a.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["enabled"] is True and shown.json()["state"] == "not_started"

    off = client.put("/api/receipts/sync/sweep", json={"enabled": False}, headers=world.a.headers)
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["state"] == "off"
    other = client.get("/api/receipts/sync/sweep", headers=world.b.headers)
    assert other.json()["enabled"] is True  # another business's switch is its own

    on = client.put("/api/receipts/sync/sweep", json={"enabled": True}, headers=world.a.headers)
    assert on.json()["enabled"] is True


def test_bad_sweep_requests_are_4xx_json(client: TestClient, world: World) -> None:
    bad = client.put("/api/receipts/sync/sweep", json={"enabled": "sometimes"}, headers=world.a.headers)
    assert bad.status_code == 422 and "error" in bad.json()
    unknown = client.put("/api/receipts/sync/sweep", json={"enabled": False, "extra": 1}, headers=world.a.headers)
    assert unknown.status_code == 422
    admin = client.put("/api/receipts/sync/sweep", json={"enabled": False}, headers=world.admin_headers)
    assert admin.status_code == 400 and admin.json()["error"]
    foreign = client.get(f"/api/receipts/sync/sweep?business_id={world.b.business_id}", headers=world.a.headers)
    assert foreign.status_code == 404


@pytest.mark.usefixtures("with_prefect", "idle_worker")
def test_a_sync_asked_for_while_a_run_only_sweeps_starts_at_once_and_the_sweep_yields(
    client: TestClient, world: World
) -> None:
    now = utcnow()
    sweeping = add_sync_run(world.a.business_id, status="running", sweep_status="running", started_at=now,
                            heartbeat_at=now, receipts_saved=7)  # fmt: skip

    resp = client.post("/api/receipts/sync", json={"mode": "incremental"}, headers=world.a.headers)

    assert resp.status_code == 202, resp.text
    old = client.get(f"/api/receipts/sync/runs/{sweeping}", headers=world.a.headers).json()
    assert old["status"] == "completed" and old["sweep_status"] == "yielded" and old["receipts_saved"] == 7
    assert [r.status for r in sync_runs(world.a.business_id)] == ["completed", "queued"]


@pytest.mark.usefixtures("with_prefect", "idle_worker")
def test_a_run_still_reading_what_the_query_lists_is_not_interrupted(client: TestClient, world: World) -> None:
    now = utcnow()
    add_sync_run(world.a.business_id, status="running", sweep_status=None, started_at=now, heartbeat_at=now)

    resp = client.post("/api/receipts/sync", json={"mode": "incremental"}, headers=world.a.headers)

    assert resp.status_code == 409 and resp.json()["run"]["sweep_status"] is None
