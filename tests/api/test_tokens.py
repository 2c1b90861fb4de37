"""API tokens expire, can be listed and revoked (issue 13): by the CLI and by the admin API."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app
from models.base import utcnow
from models.business import ApiToken
from models.db import session_scope
from models.queries.tokens import create_api_token, hash_token
from tests.api.conftest import World

runner = CliRunner()


def _expire(token: str) -> None:
    with session_scope() as session:
        row = session.query(ApiToken).filter_by(token_hash=hash_token(token)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)


def test_an_expired_token_is_a_401(client: TestClient, world: World) -> None:
    assert client.get("/api/receipts", headers=world.a.headers).status_code == 200
    _expire(world.a.token)
    response = client.get("/api/receipts", headers=world.a.headers)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_new_tokens_expire_after_90_days_unless_told_otherwise(api_env: dict[str, str], world: World) -> None:
    with session_scope() as session:
        default = create_api_token(session, world.a.business_id)
        forever = create_api_token(session, world.a.business_id, days=None)
        rows = {t: session.query(ApiToken).filter_by(token_hash=hash_token(t)).one() for t in (default, forever)}
        expires = rows[default].expires_at - rows[default].created_at
        assert timedelta(days=89) < expires <= timedelta(days=90)
        assert rows[forever].expires_at is None


def test_admin_api_lists_and_revokes_tokens(client: TestClient, world: World) -> None:
    listed = client.get(f"/api/admin/tokens?business_id={world.a.business_id}", headers=world.admin_headers).json()
    (mine,) = listed["items"]
    assert mine["prefix"] == world.a.token[:10] and mine["state"] == "active" and "token_hash" not in mine
    revoked = client.post(f"/api/admin/tokens/{mine['id']}/revoke", headers=world.admin_headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert client.get("/api/receipts", headers=world.a.headers).status_code == 401
    assert client.get("/api/receipts", headers=world.b.headers).status_code == 200


def test_members_cannot_manage_tokens(client: TestClient, world: World) -> None:
    assert client.get("/api/admin/tokens", headers=world.a.headers).status_code == 403
    assert client.post("/api/admin/tokens/1/revoke", headers=world.a.headers).status_code == 403
    assert client.post("/api/admin/tokens/999999/revoke", headers=world.admin_headers).status_code == 404


def test_cli_lists_and_revokes_tokens(world: World, client: TestClient) -> None:
    listed = runner.invoke(app, ["token", "list", "--business", str(world.b.business_id), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["prefix"] == world.b.token[:10] and row["state"] == "active"
    assert world.b.token not in listed.stdout
    revoked = runner.invoke(app, ["token", "revoke", str(row["id"])])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/receipts", headers=world.b.headers).status_code == 401
    again = json.loads(runner.invoke(app, ["token", "list", "--business", str(world.b.business_id), "--json"]).stdout)
    assert again[0]["state"] == "revoked"
