"""Bounded requests (issue 13): the token is checked before a body is read, and bodies are size-limited.

Over a real socket to uvicorn: the client declares a huge body and sends none of it, so an answer at all proves
the server did not wait to read the body first (if it did, the read would time out and the test fail)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World
from tests.conftest import SettingsOverride
from tests.fixtures.prefect_server import api_server

HUGE = 400 * 1024 * 1024


@pytest.fixture
def api_url(api_env: dict[str, str]) -> Iterator[str]:
    with api_server({**os.environ, **api_env, "API_MAX_BODY_BYTES": "65536"}) as base:
        yield base


def _declare_body(base: str, path: str, length: int, token: str | None = None) -> tuple[int, dict]:
    """Send only the request head announcing `length` body bytes; return the status and JSON answered."""
    url = urlparse(base)
    head = [
        f"PATCH {path} HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"status": "rev')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_a_huge_body_without_a_token_is_401_before_it_is_read(api_url: str) -> None:
    status, body = _declare_body(api_url, "/api/receipts/1", HUGE)
    assert status == 401 and body["error"] == "unauthorized"


def test_a_huge_body_with_a_bad_token_is_401_before_it_is_read(api_url: str) -> None:
    status, body = _declare_body(api_url, "/api/receipts/1", HUGE, token="rs_not-a-real-token")
    assert status == 401 and body["error"] == "unauthorized"


def test_a_body_over_the_limit_with_a_valid_token_is_413_before_it_is_read(api_url: str, world: World) -> None:
    status, body = _declare_body(api_url, "/api/receipts/1", HUGE, token=world.a.token)
    assert status == 413 and body["error"] == "payload_too_large"


def test_a_malformed_body_without_a_token_is_401_not_400(client: TestClient) -> None:
    response = client.patch("/api/receipts/1", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_chunked_body_over_the_limit_is_413(
    client: TestClient, world: World, override_settings: SettingsOverride
) -> None:
    override_settings({"API_MAX_BODY_BYTES": "1024"})

    def chunks() -> Iterator[bytes]:
        yield b'{"status": "reviewed", "vendor": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    response = client.patch(
        "/api/receipts/1", content=chunks(), headers={**world.a.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_a_body_within_the_limit_still_works(client: TestClient, world: World) -> None:
    from tests.api.conftest import add_receipts

    receipt_id = add_receipts(world.a.business_id, 1)[0]
    response = client.patch(f"/api/receipts/{receipt_id}", json={"status": "reviewed"}, headers=world.a.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "reviewed"
