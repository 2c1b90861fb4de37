"""schemathesis run against the running API (uvicorn on 127.0.0.1, real Prefect server and an idle worker):
no 5xx, and every answer conforms to the OpenAPI document (status codes, content types, headers — a 405 names
its Allow methods —, bodies). It runs in CI as part of `make test` (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import World
from tests.factories import add_receipts
from tests.fixtures.prefect_server import PrefectServer, api_server, register_deployment

DELETION_ENTRYPOINT = "flows/receipt_deletion.py:receipt_deletion"

pytestmark = pytest.mark.e2e

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
]


@pytest.fixture
def live_api(with_prefect: PrefectServer, idle_worker: None, api_env: dict[str, str]) -> Iterator[str]:
    # Deletions start the receipt-deletion deployment: register it too (the idle worker never runs it).
    register_deployment(
        with_prefect, flow_name="receipt-deletion", name="receipt-deletion", entrypoint=DELETION_ENTRYPOINT
    )
    with api_server({**os.environ, **api_env, "PREFECT_API_URL": with_prefect.api_url}) as base:
        yield base


def test_schemathesis_finds_no_5xx_and_no_conformance_failure(live_api: str, world: World, tmp_path: Path) -> None:
    add_receipts(world.a.business_id, 3)
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"), "run", f"{live_api}/openapi.json",
        "--header", f"Authorization: Bearer {world.a.token}",
        "--checks", ",".join(CHECKS),
        "--max-examples", "10", "--seed", "13", "--phases", "examples,coverage,fuzzing",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
