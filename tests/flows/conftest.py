"""Fixtures for flow tests: a fake Gmail mailbox, settings pointed at it, and a connected business."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from models import Receipt, SyncRun
from models.db import session_scope
from models.queries.businesses import create_business
from receipt_sync.settings import get_settings
from services.gmail_connect import connect_gmail_mailbox
from tests.fakes.gmail_server import FakeGmailServer

REFRESH_TOKEN = "1//rt-secret-7c1f0e9a-do-not-log"


@pytest.fixture
def gmail() -> Iterator[FakeGmailServer]:
    with FakeGmailServer(refresh_tokens=[REFRESH_TOKEN], address="owner@acme.example") as server:
        yield server


@pytest.fixture
def sync_env(
    settings_env: dict[str, str], gmail: FakeGmailServer, prefect_api_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        **settings_env,
        "GMAIL_API_ENDPOINT": gmail.url,
        "GOOGLE_TOKEN_URI": gmail.token_uri,
        "GOOGLE_CLIENT_ID": "test-client.apps.example",
        "GOOGLE_CLIENT_SECRET": "test-client-secret",
        "GMAIL_PAGE_SIZE": "20",
        "PREFECT_API_URL": prefect_api_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return env


@pytest.fixture
def connect_business(sync_env: dict[str, str]) -> Callable[..., int]:
    """Create a business and connect the fake mailbox to it the way `receipts connect-gmail` does."""

    def connect(name: str = "Acme Ltd", token: str = REFRESH_TOKEN) -> int:
        with session_scope() as session:
            business_id = create_business(session, name).id
        connect_gmail_mailbox(business_id, token, None)
        return business_id

    return connect


def stored_receipts(business_id: int) -> dict[str, Receipt]:
    with session_scope() as session:
        rows = session.scalars(select(Receipt).where(Receipt.business_id == business_id)).all()
        return {r.source_message_id: r for r in rows}


def sync_runs(business_id: int) -> list[SyncRun]:
    with session_scope() as session:
        return list(session.scalars(select(SyncRun).where(SyncRun.business_id == business_id).order_by(SyncRun.id)))
