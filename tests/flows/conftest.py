"""Fixtures for flow tests: settings pointed at the fake Gmail and Prefect, and a connected business."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import SettingsOverride
from tests.factories import connect_gmail
from tests.fakes.gmail_server import FakeGmailServer


@pytest.fixture
def sync_env(
    settings_env: dict[str, str], gmail: FakeGmailServer, prefect_api_url: str, override_settings: SettingsOverride
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
    override_settings(env)
    return env


@pytest.fixture
def connect_business(sync_env: dict[str, str]) -> Callable[..., int]:
    """Create a business and connect the fake mailbox to it the way `receipts connect-gmail` does."""

    return connect_gmail
