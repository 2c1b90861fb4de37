"""API test fixtures: the app on a fresh database, businesses A and B with tokens, and Prefect processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient

from models.db import dispose_engines
from tests.conftest import SettingsOverride
from tests.factories import Tenant, bearer, make_tenant, make_token
from tests.fixtures.postgres import PostgresServer, free_port
from tests.fixtures.prefect_server import PrefectServer, prefect_server, prefect_worker, register_deployment

DIAGNOSTIC_KEY = "diag-key-for-tests-0123456789"


@dataclass
class World:
    a: Tenant
    b: Tenant
    admin_headers: dict[str, str]


@pytest.fixture
def api_env(settings_env: dict[str, str], override_settings: SettingsOverride) -> Iterator[dict[str, str]]:
    """Settings for the API: the test database, a Prefect API that nobody listens on (tests override)."""
    env = {
        **settings_env,
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "DIAGNOSTIC_KEY": DIAGNOSTIC_KEY,
        "PREFECT_API_TIMEOUT_SECONDS": "2",
    }
    override_settings(env)
    yield env
    dispose_engines()


@pytest.fixture
def client(api_env: dict[str, str]) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def world(api_env: dict[str, str]) -> World:
    a, b = make_tenant("Alpha Ltd"), make_tenant("Beta Ltd")
    return World(a=a, b=b, admin_headers=bearer(make_token(None, "system_admin")))


@pytest.fixture(scope="session")
def prefect(pg_server: PostgresServer) -> Iterator[PrefectServer]:
    """One real Prefect server for the session, on its own PostgreSQL database, with two deployments of the
    gmail-sync flow: `gmail-sync` on pool `receipts` (an idle-queue worker keeps it READY) and `no-worker` on
    pool `empty`; and `receipt-deletion` on pool `receipts` (nothing runs it either).
    """
    database = pg_server.create_database()
    with prefect_server(pg_server.url(database, driver="asyncpg")) as server:
        register_deployment(server, name="gmail-sync", pool="receipts")
        register_deployment(server, name="no-worker", pool="empty")
        register_deployment(
            server,
            flow_name="receipt-deletion",
            name="receipt-deletion",
            entrypoint="flows/receipt_deletion.py:receipt_deletion",
        )
        yield server


@pytest.fixture(scope="session")
def idle_worker(prefect: PrefectServer) -> Iterator[None]:
    """A worker polling pool `receipts` on a queue no deployment uses: the pool is READY, nothing runs."""
    with prefect_worker(prefect, pool="receipts", work_queue="idle"):
        yield


@pytest.fixture
def with_prefect(prefect: PrefectServer, api_env: dict[str, str], override_settings: SettingsOverride) -> PrefectServer:
    override_settings({"PREFECT_API_URL": prefect.api_url})
    return prefect


def window() -> dict[str, str]:
    return {"mode": "range", "from_date": date(2026, 1, 1).isoformat(), "to_date": date(2026, 2, 1).isoformat()}
