"""Low findings of issue 13 at the API: crafted cursors are 400s, internal addresses stay internal."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World
from tests.factories import add_receipts, add_sync_run


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        '{"r": null, "i": Infinity}',
        '{"r": null, "i": 1e400}',
        '{"r": null, "i": 12345678901234567890123}',
        '{"r": null, "i": -1}',
        '{"r": null, "i": 1.5}',
        '{"r": null, "i": true}',
        '{"r": 7, "i": 1}',
        '{"r": "not a date", "i": 1}',
        '{"r": null, "i": 1, "x": 2}',
        "[1, 2]",
        '"just a string"',
    ],
)
def test_a_crafted_cursor_is_a_400_json(client: TestClient, world: World, raw: str) -> None:
    response = client.get(f"/api/receipts?cursor={_cursor(raw)}", headers=world.a.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_a_cursor_the_api_returned_still_pages(client: TestClient, world: World) -> None:
    add_receipts(world.a.business_id, 3)
    first = client.get("/api/receipts?limit=2", headers=world.a.headers).json()
    cursor = first["next_cursor"]
    assert set(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))) == {"r", "i"}
    second = client.get(f"/api/receipts?limit=2&cursor={cursor}", headers=world.a.headers).json()
    assert len(first["items"]) == 2 and len(second["items"]) == 1


def test_errors_do_not_show_callers_the_internal_prefect_address(
    client: TestClient, world: World, api_env: dict[str, str]
) -> None:
    internal = api_env["PREFECT_API_URL"]
    refused = client.post("/api/receipts/sync", json={"mode": "full"}, headers=world.a.headers)
    assert refused.status_code == 503 and internal not in refused.text
    add_sync_run(world.a.business_id, status="failed", flow_run_id="00000000-0000-0000-0000-000000000001")
    latest = client.get("/api/receipts/sync/latest", headers=world.a.headers).json()
    assert "unreachable" in latest["prefect_error"] and internal not in latest["prefect_error"]


def test_members_get_no_worker_details(client: TestClient, world: World, api_env: dict[str, str]) -> None:
    assert client.get("/api/jobs/worker/config", headers=world.a.headers).status_code == 403
    health = client.get("/api/jobs/health", headers=world.a.headers).json()
    assert set(health) == {"ok", "database", "prefect_api"}
    assert api_env["PREFECT_API_URL"] not in json.dumps(health)
