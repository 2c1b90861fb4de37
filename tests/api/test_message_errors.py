"""Failed messages through the API: a run's and a business's, tenant-scoped, and a reprocessing request."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from models.db import session_scope
from models.queries.ingest import record_processed
from tests.api.conftest import World
from tests.factories import add_sync_run
from tests.fixtures.prefect_server import PrefectServer

ERRORS = [{"message_id": f"m{i}", "error": f"A part's base64 is corrupt ({i})", "kind": "permanent"} for i in range(7)]


def _fail(business_id: int, run_id: int) -> None:
    with session_scope() as session:
        record_processed(session, business_id, [("ok-1", "receipt", None)], sync_run_id=run_id)
        record_processed(session, business_id, [("gone-1", "retry", "could not fetch: not found")], sync_run_id=run_id)
        record_processed(session, business_id, [("bad-1", "error", "A part's base64 is corrupt")], sync_run_id=run_id)


def test_a_run_shows_its_first_errors_and_lists_all_of_them(client: TestClient, world: World) -> None:
    run_id = add_sync_run(world.a.business_id, status="completed", errors_count=7, message_errors=ERRORS)

    run = client.get(f"/api/receipts/sync/runs/{run_id}", headers=world.a.headers).json()
    listed = client.get(f"/api/receipts/sync/runs/{run_id}/errors", headers=world.a.headers)

    assert [e["message_id"] for e in run["first_errors"]] == ["m0", "m1", "m2", "m3", "m4"]
    assert run["errors_count"] == 7
    assert listed.status_code == 200
    assert listed.json() == {"run_id": run_id, "errors_count": 7, "items": ERRORS}
    other = client.get(f"/api/receipts/sync/runs/{run_id}/errors", headers=world.b.headers)
    assert other.status_code == 404 and other.json()["error"] == "not_found"


def test_a_business_s_failed_messages_say_which_later_syncs_retry(client: TestClient, world: World) -> None:
    run_id = add_sync_run(world.a.business_id, status="completed", errors_count=2)
    _fail(world.a.business_id, run_id)

    body = client.get("/api/receipts/sync/errors", headers=world.a.headers).json()

    assert [(i["message_id"], i["kind"], i["retried_by_later_syncs"]) for i in body["items"]] == [
        ("bad-1", "permanent", False),
        ("gone-1", "transient", True),
    ]
    assert all(i["sync_run_id"] == run_id and i["attempts"] == 1 for i in body["items"])
    assert client.get("/api/receipts/sync/errors", headers=world.b.headers).json()["items"] == []
    foreign = client.get(f"/api/receipts/sync/errors?business_id={world.a.business_id}", headers=world.b.headers)
    assert foreign.status_code == 404
    admin = client.get(f"/api/receipts/sync/errors?business_id={world.a.business_id}", headers=world.admin_headers)
    assert len(admin.json()["items"]) == 2
    page = client.get("/api/receipts/sync/errors?limit=1", headers=world.a.headers).json()
    assert len(page["items"]) == 1 and page["next_before_id"] == page["items"][0]["id"]


def test_the_error_endpoints_are_documented(client: TestClient, world: World) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get"} <= set(paths["/api/receipts/sync/runs/{run_id}/errors"])
    assert {"get"} <= set(paths["/api/receipts/sync/errors"])
    assert "202" in paths["/api/receipts/sync/reprocess-errors"]["post"]["responses"]


@pytest.mark.usefixtures("with_prefect", "idle_worker")
def test_reprocessing_queues_a_named_sync_that_retries_failed_messages(
    client: TestClient, world: World, prefect: PrefectServer
) -> None:
    resp = client.post("/api/receipts/sync/reprocess-errors", json={}, headers=world.a.headers)

    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert run["status"] == "queued" and run["parameters"]["reprocess_failed"] is True
    flow_run = httpx.get(f"{prefect.api_url}/flow_runs/{run['flow_run_id']}", timeout=5).json()
    assert flow_run["name"] == f"gmail-sync/alpha-ltd-{world.a.business_id}/reprocess-failed"
    assert flow_run["parameters"]["reprocess_failed"] is True
    assert {f"business:{world.a.business_id}", "business-name:Alpha Ltd"} <= set(flow_run["tags"])
    again = client.post("/api/receipts/sync/reprocess-errors", json={}, headers=world.a.headers)
    assert again.status_code == 409  # one sync per business, reprocessing included
