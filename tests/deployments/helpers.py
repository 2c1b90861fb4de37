"""Small helpers for the deployment tests: businesses on the shared fake mailbox, polling, Prefect reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from models.db import session_scope
from models.receipt import Receipt
from receipt_sync.polling import poll_until
from receipt_sync.samples.generator import SampleMessage
from tests.factories import connect_gmail, make_token
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import load

T = TypeVar("T")
LOADED: list[SampleMessage] = []  # every message put in the shared fake mailbox this session


def load_messages(gmail: FakeGmailServer, messages: list[SampleMessage]) -> list[SampleMessage]:
    """Add to the one fake mailbox every `up` business reads; returns all it holds now."""
    load(gmail, messages)
    LOADED.extend(messages)
    return list(LOADED)


def connected_business(name: str, refresh_token: str) -> tuple[int, str]:
    """A business with the fake Gmail connected and a member API token."""
    business_id = connect_gmail(name, refresh_token)
    return business_id, make_token(business_id)


def stored_message_ids(business_id: int) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(Receipt.source_message_id).where(Receipt.business_id == business_id)))


def wait_for(produce: Callable[[], T | None], what: str, timeout: float = 90, every: float = 0.5) -> T:
    return poll_until(produce, what=what, timeout=timeout, every=every)


def flow_run(api_url: str, flow_run_id: str) -> dict[str, Any]:
    return httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10).json()


def flow_run_in(api_url: str, flow_run_id: str, *state_types: str) -> dict[str, Any] | None:
    run = flow_run(api_url, flow_run_id)
    return run if run["state"] and run["state"]["type"] in state_types else None


def flow_runs_tagged(api_url: str, tag: str, deployment: str | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"flow_runs": {"tags": {"all_": [tag]}}}
    if deployment:
        body["deployments"] = {"name": {"any_": [deployment]}}
    return httpx.post(f"{api_url}/flow_runs/filter", json=body, timeout=10).json()
