"""API test fixtures: the app on a fresh database, businesses A and B with tokens, and Prefect processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from models.db import dispose_engines, session_scope
from models.mailbox import MailboxConnection
from models.queries.businesses import create_business
from models.queries.tokens import create_api_token
from models.receipt import Receipt, ReceiptDocument
from receipt_sync.settings import get_settings
from tests.fixtures.postgres import PostgresServer, free_port
from tests.fixtures.prefect_server import PrefectServer, prefect_server, prefect_worker, register_deployment

DIAGNOSTIC_KEY = "diag-key-for-tests-0123456789"


@dataclass
class Tenant:
    business_id: int
    token: str
    mailbox_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    a: Tenant
    b: Tenant
    admin_headers: dict[str, str]


def make_tenant(name: str) -> Tenant:
    with session_scope() as session:
        business = create_business(session, name)
        token = create_api_token(session, business.id, "member")
        mailbox = MailboxConnection(business_id=business.id, provider="mbox", address=f"/tmp/{name}.mbox")
        session.add(mailbox)
        session.flush()
        return Tenant(business.id, token, mailbox.id)


def add_receipts(business_id: int, count: int, **fields: object) -> list[int]:
    """Insert `count` receipts, one day apart, newest last; returns their ids."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope() as session:
        rows = [
            Receipt(
                business_id=business_id,
                source_message_id=f"m-{business_id}-{i}-{fields.get('vendor', '')}",
                subject=f"Receipt {i}",
                sender="billing@shop.example",
                received_at=base + timedelta(days=i),
                vendor=fields.get("vendor", "Acme"),
                total=Decimal(str(fields.get("total", "10.00"))),
                currency=fields.get("currency", "USD"),
                receipt_date=(base + timedelta(days=i)).date(),
                status=fields.get("status", "new"),
                confidence=0.9,
            )
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def add_document(receipt_id: int, business_id: int, key: str, content_type: str = "application/pdf") -> int:
    with session_scope() as session:
        doc = ReceiptDocument(
            receipt_id=receipt_id,
            business_id=business_id,
            kind="attachment",
            filename="../../etc/passwd invoice.pdf",
            content_type=content_type,
            content_hash=key.rsplit("/", 1)[-1],
            storage_key=key,
            size_bytes=3,
        )
        session.add(doc)
        session.flush()
        return doc.id


@pytest.fixture
def api_env(settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Settings for the API: the test database, a Prefect API that nobody listens on (tests override)."""
    env = {
        **settings_env,
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "DIAGNOSTIC_KEY": DIAGNOSTIC_KEY,
        "PREFECT_API_TIMEOUT_SECONDS": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()
    dispose_engines()


@pytest.fixture
def client(api_env: dict[str, str]) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def world(api_env: dict[str, str]) -> World:
    a, b = make_tenant("Alpha Ltd"), make_tenant("Beta Ltd")
    with session_scope() as session:
        admin = create_api_token(session, None, "system_admin")
    return World(a=a, b=b, admin_headers={"Authorization": f"Bearer {admin}"})


@pytest.fixture(scope="session")
def prefect(pg_server: PostgresServer) -> Iterator[PrefectServer]:
    """One real Prefect server for the session, on its own PostgreSQL database, with two deployments of the
    gmail-sync flow: `gmail-sync` on pool `receipts` (an idle-queue worker keeps it READY) and `no-worker` on
    pool `empty`.
    """
    database = pg_server.create_database()
    with prefect_server(pg_server.url(database, driver="asyncpg")) as server:
        register_deployment(server, name="gmail-sync", pool="receipts")
        register_deployment(server, name="no-worker", pool="empty")
        yield server


@pytest.fixture(scope="session")
def idle_worker(prefect: PrefectServer) -> Iterator[None]:
    """A worker polling pool `receipts` on a queue no deployment uses: the pool is READY, nothing runs."""
    with prefect_worker(prefect, pool="receipts", work_queue="idle"):
        yield


@pytest.fixture
def with_prefect(prefect: PrefectServer, api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> PrefectServer:
    monkeypatch.setenv("PREFECT_API_URL", prefect.api_url)
    get_settings.cache_clear()
    return prefect


def window() -> dict[str, str]:
    return {"mode": "range", "from_date": date(2026, 1, 1).isoformat(), "to_date": date(2026, 2, 1).isoformat()}
