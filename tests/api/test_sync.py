"""Sync endpoints without a working Prefect: refusals leave nothing behind, bad input is 422, 409 shows progress."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models.base import utcnow
from models.db import session_scope
from models.mailbox import MailboxConnection
from models.runs import SyncRun
from tests.api.conftest import World, window
from tests.conftest import SettingsOverride
from tests.factories import add_sync_run


def sync_run_count(business_id: int) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.business_id == business_id))


@contextmanager
def hanging_up_prefect() -> Iterator[tuple[str, list[int]]]:
    """A "Prefect API" that accepts each connection and closes it at once; yields its URL and the connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                connections.append(1)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api", connections
    finally:
        listener.close()


def test_unreachable_prefect_is_a_quick_503_and_queues_nothing(
    client: TestClient, world: World, override_settings: SettingsOverride
) -> None:
    with hanging_up_prefect() as (url, connections):
        override_settings({"PREFECT_API_URL": url})
        resp = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["error"] == "prefect_unavailable" and "prefect server start" in body["action"]
    assert len(connections) == 1  # quick: asked once, no client-side retries
    assert sync_run_count(world.a.business_id) == 0


def test_bad_parameters_are_422_with_the_error_shape(client: TestClient, world: World) -> None:
    for body in (
        {"mode": "everything"},
        {"mode": "range", "from_date": "2026-03-01", "to_date": "2026-01-01"},
        {"mode": "range"},
        {"mode": "full", "months_back": 0},
        {"mode": "full", "refresh_token": "x"},
    ):
        resp = client.post("/api/receipts/sync", json=body, headers=world.a.headers)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"] == "validation_error" and resp.json()["message"]
    assert sync_run_count(world.a.business_id) == 0


def test_a_business_without_a_connected_mailbox_is_told_so(client: TestClient, world: World) -> None:
    with session_scope() as session:
        session.get(MailboxConnection, world.a.mailbox_id).status = "needs_reauth"
    resp = client.post("/api/receipts/sync", json=window(), headers=world.a.headers)
    assert resp.status_code == 409 and resp.json()["error"] == "mailbox_needs_reauth"


def test_active_run_is_a_409_carrying_its_progress(client: TestClient, world: World) -> None:
    run_id = add_sync_run(world.a.business_id, status="running", heartbeat_at=utcnow(), pages_done=3, percent=42.0)
    resp = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"] == "sync_already_running"
    assert body["run"]["id"] == run_id and body["run"]["percent"] == 42.0 and body["run"]["pages_done"] == 3


def test_status_reports_our_counters_when_prefect_cannot_be_asked(client: TestClient, world: World) -> None:
    run_id = add_sync_run(
        world.a.business_id,
        status="failed",
        flow_run_id="00000000-0000-0000-0000-000000000001",
        error_message="x" * 2000,
        receipts_saved=7,
    )
    latest = client.get("/api/receipts/sync/latest", headers=world.a.headers).json()
    assert latest["id"] == run_id and latest["receipts_saved"] == 7 and latest["status"] == "failed"
    assert len(latest["error_message"]) == 500
    assert latest["prefect_state"] is None and "unreachable" in latest["prefect_error"]
    assert latest["prefect_ui_url"].endswith("/runs/flow-run/00000000-0000-0000-0000-000000000001")
    history = client.get("/api/receipts/sync/runs", headers=world.a.headers).json()["items"]
    assert [r["id"] for r in history] == [run_id]


def test_rerun_and_cancel_refuse_runs_in_the_wrong_state(client: TestClient, world: World) -> None:
    done = add_sync_run(world.a.business_id, status="completed")
    resp = client.post(f"/api/receipts/sync/runs/{done}/rerun", headers=world.a.headers)
    assert resp.status_code == 409 and resp.json()["error"] == "run_state_conflict"
    resp = client.post(f"/api/receipts/sync/runs/{done}/cancel", headers=world.a.headers)
    assert resp.status_code == 409
