"""Shared fixtures: a real PostgreSQL (migrated by Alembic), settings pointed at it, and temp data dirs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

# Keep Prefect quiet and local for every test process; end-to-end tests point it at their own server.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")

from models.db import dispose_engines, migrate
from receipt_sync.settings import get_settings
from tests.factories import REFRESH_TOKEN
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.postgres import TEMPLATE_DB, PostgresServer, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        server.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        migrate(server.url(TEMPLATE_DB))
        dispose_engines()  # a template database must have no open connections
        yield server


@pytest.fixture
def db_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test."""
    name = pg_server.create_database(template=TEMPLATE_DB)
    yield pg_server.url(name)


SettingsOverride = Callable[[Mapping[str, str | None]], None]


@pytest.fixture
def override_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[SettingsOverride]:
    """Set (or, given None, unset) environment variables and re-read the product's settings; undone after."""

    def apply(env: Mapping[str, str | None]) -> None:
        for key, value in env.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture
def settings_env(db_url: str, tmp_path: Path, override_settings: SettingsOverride) -> dict[str, str]:
    """Environment for the product pointed at the test database and a temp data dir; settings re-read."""
    env = {
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "data"),
        "STORAGE_URL": str(tmp_path / "data" / "documents"),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "TASK_RETRY_BASE_SECONDS": "0.05",
        "GMAIL_RETRY_BASE_SECONDS": "0.05",
        # The fake Gmail is not rate-limited unless a test says so: quota tests set their own regime.
        "GMAIL_QUOTA_UNITS_PER_MINUTE": "600000",
        "GMAIL_PROJECT_RATE_LIMIT": "false",
        # Tests count every message of their mailbox; the default receipt query has its own tests.
        "GMAIL_RECEIPT_QUERY": "",
    }
    override_settings(env)
    return env


@pytest.fixture
def gmail(request: pytest.FixtureRequest) -> Iterator[FakeGmailServer]:
    """The fake Gmail that accepts the factories' refresh token: empty (tests load their messages), or as the
    test's `gmail` mark says: `messages=` a callable that makes a fresh mailbox per test, and any other
    `FakeGmailServer` option (`pytestmark = pytest.mark.gmail(messages=lambda: mailbox(30), stall_seconds=1.0)`)."""
    mark = request.node.get_closest_marker("gmail")
    options = {"refresh_tokens": [REFRESH_TOKEN], "address": "owner@acme.example", **(mark.kwargs if mark else {})}
    messages = options.pop("messages", tuple)
    with FakeGmailServer(messages(), **options) as server:
        yield server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server (session-wide); each test uses its own bucket."""
    from tests.fixtures.s3 import moto_s3_server

    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the moto server, named for the test."""
    import re

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + "-bkt"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    """A Prefect test server for the session; runs are filtered by our own ids, not isolated."""
    from tests.fixtures.prefect import prefect_harness

    with prefect_harness() as url:
        yield url
