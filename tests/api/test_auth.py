"""Authentication and tenant isolation on every endpoint: 401 without a token, 404 on another business."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import DIAGNOSTIC_KEY, World
from tests.factories import add_document, add_receipts, add_sync_run


def _b_resources(world: World) -> dict[str, int]:
    receipt_id = add_receipts(world.b.business_id, 1)[0]
    doc_id = add_document(receipt_id, world.b.business_id, "businesses/x/documents/ab/" + "ab" * 32)
    run_id = add_sync_run(world.b.business_id, status="failed")
    return {"receipt": receipt_id, "doc": doc_id, "run": run_id}


# Every endpoint that needs a token, with B's ids filled in.
AUTHED = [
    ("get", "/api/receipts", None),
    ("get", "/api/receipts/stats", None),
    ("get", "/api/receipts/{receipt}", None),
    ("patch", "/api/receipts/{receipt}", {"status": "reviewed"}),
    ("get", "/api/receipts/{receipt}/documents/{doc}", None),
    ("post", "/api/receipts/sync", {"mode": "full"}),
    ("get", "/api/receipts/sync/latest", None),
    ("get", "/api/receipts/sync/runs", None),
    ("get", "/api/receipts/sync/runs/{run}", None),
    ("post", "/api/receipts/sync/runs/{run}/rerun", None),
    ("post", "/api/receipts/sync/runs/{run}/cancel", None),
    ("get", "/api/jobs/health", None),
    ("get", "/api/jobs/worker/config", None),
]
B_OWNED = [e for e in AUTHED if "{" in e[1]]


@pytest.mark.parametrize(("method", "path", "body"), AUTHED)
def test_no_token_or_a_wrong_token_is_401_with_the_error_shape(
    client: TestClient, world: World, method: str, path: str, body: dict | None
) -> None:
    url = path.format(**_b_resources(world))
    for headers in ({}, {"Authorization": "Bearer rs_not-a-real-token"}, {"Authorization": "Basic abc"}):
        resp = client.request(method, url, json=body, headers=headers)
        assert resp.status_code == 401, (url, resp.text)
        assert resp.json()["error"] == "unauthorized"
        assert resp.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), B_OWNED)
def test_member_of_a_gets_404_for_business_b_resources(
    client: TestClient, world: World, method: str, path: str, body: dict | None
) -> None:
    url = path.format(**_b_resources(world))
    resp = client.request(method, url, json=body, headers=world.a.headers)
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/receipts?business_id={b}", None),
        ("get", "/api/receipts/stats?business_id={b}", None),
        ("get", "/api/receipts/sync/latest?business_id={b}", None),
        ("get", "/api/receipts/sync/runs?business_id={b}", None),
        ("post", "/api/receipts/sync", {"business_id": "{b}"}),
    ],
)
def test_member_naming_another_business_id_gets_404(
    client: TestClient, world: World, method: str, path: str, body: dict | None
) -> None:
    b = world.b.business_id
    json_body = {"business_id": b} if body else None
    resp = client.request(method, path.format(b=b), json=json_body, headers=world.a.headers)
    assert resp.status_code == 404, resp.text


def test_member_lists_only_their_own_receipts_and_admin_sees_all(client: TestClient, world: World) -> None:
    add_receipts(world.a.business_id, 2)
    add_receipts(world.b.business_id, 3)
    mine = client.get("/api/receipts", headers=world.a.headers).json()["items"]
    assert {r["business_id"] for r in mine} == {world.a.business_id} and len(mine) == 2
    everything = client.get("/api/receipts", headers=world.admin_headers).json()["items"]
    assert len(everything) == 5
    only_b = client.get(f"/api/receipts?business_id={world.b.business_id}", headers=world.admin_headers)
    assert len(only_b.json()["items"]) == 3


def test_diagnostics_refuse_members_wrong_keys_and_anonymous_callers(client: TestClient, world: World) -> None:
    url = "/api/receipts/queue/diagnostics"
    for headers in ({}, world.a.headers, {"X-Diagnostic-Key": "wrong"}, {"X-Diagnostic-Key": ""}):
        resp = client.get(url, headers=headers)
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "forbidden"


def test_diagnostics_open_to_admins_and_the_diagnostic_key(client: TestClient, world: World) -> None:
    for headers in (world.admin_headers, {"X-Diagnostic-Key": DIAGNOSTIC_KEY}):
        resp = client.get("/api/receipts/queue/diagnostics", headers=headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["prefect_api"] == "unreachable"
        assert any("Prefect API unreachable" in c for c in body["critical"])


def test_admin_acting_on_a_business_must_name_it(client: TestClient, world: World) -> None:
    resp = client.get("/api/receipts/sync/latest", headers=world.admin_headers)
    assert resp.status_code == 400
    assert "business_id" in resp.json()["message"]
    resp = client.get("/api/receipts/sync/latest?business_id=999999", headers=world.admin_headers)
    assert resp.status_code == 404


def test_health_probes_need_no_token(client: TestClient, world: World) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": True, "prefect_api": False}


def test_unknown_paths_and_methods_use_the_error_shape(client: TestClient, world: World) -> None:
    missing = client.get("/api/nothing-here", headers=world.a.headers)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = client.delete("/api/receipts/stats", headers=world.a.headers)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
