"""Deletion endpoints: refusals leave nothing behind, one business never reaches another's runs, and the
pause / resume / cancel transitions a user can and cannot make."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionRun
from models.runs import SyncRun
from tests.api.conftest import World
from tests.factories import add_deletion_run, add_receipts

URL = "/api/receipts/deletions"


def deletion_count(business_id: int) -> int:
    with session_scope() as session:
        stmt = select(func.count()).select_from(DeletionRun).where(DeletionRun.business_id == business_id)
        return session.scalar(stmt) or 0


def test_unreachable_prefect_is_a_503_and_leaves_no_deletion_queued(client: TestClient, world: World) -> None:
    add_receipts(world.a.business_id, 3)
    resp = client.post(URL, json={"all": True}, headers=world.a.headers)
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"] == "prefect_unavailable"
    assert deletion_count(world.a.business_id) == 0


def test_a_selector_must_be_exactly_one_of_all_ids_filter(client: TestClient, world: World) -> None:
    for body in ({}, {"all": True, "ids": [1]}, {"ids": []}, {"filter": {}}, {"filter": {"colour": "red"}}):
        resp = client.post(URL, json=body, headers=world.a.headers)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"] == "validation_error"
    assert deletion_count(world.a.business_id) == 0


def test_deletion_is_refused_while_a_sync_or_another_deletion_is_active(client: TestClient, world: World) -> None:
    with session_scope() as session:
        session.add(SyncRun(business_id=world.a.business_id, mode="full", status="running", heartbeat_at=utcnow()))
    resp = client.post(URL, json={"all": True}, headers=world.a.headers)
    assert resp.status_code == 409 and resp.json()["error"] == "sync_already_running"

    run_id = add_deletion_run(world.b.business_id)
    resp = client.post(URL, json={"ids": [1, 2]}, headers=world.b.headers)
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"] == "deletion_already_running" and resp.json()["run"]["id"] == run_id


def test_another_business_deletion_is_not_found(client: TestClient, world: World) -> None:
    run_id = add_deletion_run(world.a.business_id)
    assert client.get(f"{URL}/{run_id}", headers=world.b.headers).status_code == 404
    assert client.post(f"{URL}/{run_id}/cancel", headers=world.b.headers).status_code == 404
    mine = client.get(f"{URL}/{run_id}", headers=world.a.headers)
    assert mine.status_code == 200 and mine.json()["status"] == "running"


def test_pause_and_cancel_change_the_run_and_finished_runs_refuse_them(client: TestClient, world: World) -> None:
    run_id = add_deletion_run(world.a.business_id)
    paused = client.post(f"{URL}/{run_id}/pause", headers=world.a.headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    cancelled = client.post(f"{URL}/{run_id}/cancel", headers=world.a.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    for action in ("pause", "resume", "cancel"):
        resp = client.post(f"{URL}/{run_id}/{action}", headers=world.a.headers)
        assert resp.status_code == 409 and resp.json()["error"] == "run_state_conflict", action
