"""The Prefect API cannot be turned into code execution or a way past the shim's tenant checks (issue 13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.deploy import ensure_work_pool
from flows.gmail_sync import gmail_sync
from models.db import session_scope
from models.runs import SyncRun
from tests.factories import sync_runs
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.prefect_server import REPO_ROOT, PrefectServer, prefect_server, register_deployment

COMMAND = {"command": "sh -c 'id > /tmp/receipts-pwned'"}


@pytest.fixture(scope="module")
def locked_prefect(pg_server: PostgresServer) -> Iterator[tuple[PrefectServer, str]]:
    """A Prefect server whose pool was first created with Prefect's default (open) template, then locked by
    `receipts deploy`'s `ensure_work_pool`, with a gmail-sync deployment on it."""
    database = pg_server.create_database()
    with prefect_server(pg_server.url(database, driver="asyncpg"), timeout=240) as server:
        deployment_id = register_deployment(server, name="gmail-sync", pool="receipts")
        with temporary_settings({PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as client:
            ensure_work_pool(client, "receipts")
        yield server, deployment_id


def _create_run(server: PrefectServer, deployment_id: str, job_variables: dict) -> httpx.Response:
    body = {"parameters": {"business_id": 1}, "job_variables": job_variables}
    return httpx.post(f"{server.api_url}/deployments/{deployment_id}/create_flow_run", json=body, timeout=10)


@pytest.mark.parametrize(
    "job_variables",
    [
        COMMAND,
        {"working_dir": "/tmp"},
        {"env": {"LD_PRELOAD": "/tmp/evil.so"}},
        {"env": {"PYTHONWARNINGS": "ignore::evil.Warning"}},
        {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30; id"}},
    ],
    ids=["command", "working_dir", "env-ld-preload", "env-pythonwarnings", "env-heartbeat-not-a-number"],
)
def test_a_flow_run_that_would_run_code_on_the_worker_is_refused(
    locked_prefect: tuple[PrefectServer, str], job_variables: dict
) -> None:
    server, deployment_id = locked_prefect
    response = _create_run(server, deployment_id, job_variables)
    assert response.status_code == 422, response.text
    runs = httpx.post(f"{server.api_url}/flow_runs/filter", json={}, timeout=10).json()
    assert not any(r["job_variables"] == job_variables for r in runs)


def test_the_heartbeat_setting_prefect_yaml_uses_is_still_accepted(locked_prefect: tuple[PrefectServer, str]) -> None:
    server, deployment_id = locked_prefect
    response = _create_run(server, deployment_id, {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}})
    assert response.status_code == 201, response.text


def test_a_deployment_changed_to_run_a_command_starts_no_run(locked_prefect: tuple[PrefectServer, str]) -> None:
    """Prefect stores a deployment's job variables unchecked; every run of it is then refused, and the worker's
    template has no `command` to put it in anyway."""
    server, deployment_id = locked_prefect
    url = f"{server.api_url}/deployments/{deployment_id}"
    assert httpx.patch(url, json={"job_variables": COMMAND}, timeout=10).status_code == 204
    try:
        response = _create_run(server, deployment_id, {})
        assert response.status_code == 422, response.text
    finally:
        httpx.patch(url, json={"job_variables": {}}, timeout=10).raise_for_status()


def test_compose_locks_prefect_behind_auth_and_loopback() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    server = compose["services"]["prefect-server"]
    assert "${PREFECT_AUTH_STRING:?" in server["environment"]["PREFECT_SERVER_API_AUTH_STRING"]
    assert "${PREFECT_AUTH_STRING:?" in compose["x-app-env"]["PREFECT_API_AUTH_STRING"]
    for service in ("worker", "api", "deploy", "migrate"):
        assert compose["services"][service]["environment"]["PREFECT_API_AUTH_STRING"]
    assert [p.split(":")[0] for p in server["ports"]] == ["${PREFECT_BIND"]
    assert all(":-127.0.0.1}" in p for p in server["ports"])


def test_a_flow_run_for_a_business_that_does_not_exist_fails_in_the_flow(
    connect_business: Callable[..., int],
) -> None:
    with pytest.raises(Exception, match="business 999999 not found"):
        gmail_sync(business_id=999999, mode="full")


def test_a_flow_run_naming_another_business_s_run_is_refused(connect_business: Callable[..., int]) -> None:
    a, b = connect_business("Alpha Ltd"), connect_business("Beta Ltd")
    with session_scope() as session:
        run = SyncRun(business_id=b, mode="full", status="queued", trigger="api")
        session.add(run)
        session.flush()
        run_id = run.id
    with pytest.raises(Exception, match=f"sync run {run_id} does not belong to business {a}"):
        gmail_sync(business_id=a, mode="full", sync_run_id=run_id)
    (b_run,) = sync_runs(b)
    assert b_run.status == "queued"
