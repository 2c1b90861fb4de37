"""Screenshots of what operators and integrators see: the Prefect UI's flow-run page and summary artifact, and /docs.

    python -m scripts.screenshots [--out screenshots] [--messages 60]

Starts a Prefect server with its UI (SQLite, a throwaway PREFECT_HOME, a free port), a fake Gmail mailbox
(tests/fakes, real googleapiclient over HTTP) with generated mail plus a few unreadable messages, syncs it through
the `gmail-sync` flow against that server, starts the HTTP API, and takes headless Chromium screenshots:
`flow-run.png` (the run's log), `summary-artifact.png`, `deployment-run-form.png` (the parameters described) and
`api-docs.png`. Needs
`/usr/bin/chromium` (`apt-get install chromium`) and the test dependencies (`pip install -e .[dev]`). Everything
listens on 127.0.0.1 and is stopped when the script ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
]
REFRESH_TOKEN = "1//screenshot-refresh-token"
BROKEN = (
    b"From: Shop <billing@shop.example>\r\nTo: owner@acme.example\r\nSubject: Your receipt %d\r\n"
    b"Message-ID: <broken-%d@shop.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!! not base64 @@@@\r\n"
)


def _free_port() -> int:
    from tests.fixtures.postgres import free_port

    return free_port()


def _wait_http(url: str, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def _started(cmd: list[str], env: dict[str, str], log: Path, ready_url: str) -> Iterator[None]:
    """A process in its own group, stopped (group and all) when the block ends."""
    from tests.fixtures.prefect_server import _stop

    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(ready_url)
        yield
    finally:
        _stop(proc)


def _environment(tmp: Path, gmail_url: str, token_uri: str, prefect_port: int) -> dict[str, str]:
    api = f"http://127.0.0.1:{prefect_port}/api"
    return {
        "DATA_DIR": str(tmp / "data"),
        "DATABASE_URL": f"sqlite:///{tmp / 'receipts.db'}",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "GMAIL_API_ENDPOINT": gmail_url,
        "GOOGLE_TOKEN_URI": token_uri,
        "GOOGLE_CLIENT_ID": "screenshots.apps.example",
        "GOOGLE_CLIENT_SECRET": "screenshots-secret",
        "GMAIL_PROJECT_RATE_LIMIT": "false",
        "GMAIL_PAGE_SIZE": "25",
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_UI_API_URL": api,
        "PREFECT_UI_URL": f"http://127.0.0.1:{prefect_port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
    }


def _sync(messages: int) -> tuple[str, str]:
    """Create a business with a connected (fake) Gmail mailbox and sync it; returns (flow run id, summary key)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.gmail_sync import gmail_sync
    from models.db import migrate, session_scope
    from models.queries.businesses import create_business
    from services.gmail_connect import connect_gmail_mailbox

    migrate()
    with session_scope() as session:
        business_id = create_business(session, "Acme Ltd").id
    connect_gmail_mailbox(business_id, REFRESH_TOKEN, None)
    state = gmail_sync(business_id=business_id, mode="full", return_state=True)
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    summary = next(a for a in artifacts if a.key and a.key.startswith("sync-summary-"))
    return str(flow_run_id), str(summary.id)


def _deployment(api_url: str) -> str:
    """Register `gmail-sync` with its parameter schema (as `prefect deploy` does), for its Run form."""
    import httpx
    from prefect.utilities.callables import parameter_schema

    from flows.gmail_sync import gmail_sync
    from tests.fixtures.prefect_server import _send  # repeats a call the busy SQLite-backed server answers 503

    with httpx.Client(base_url=api_url, timeout=30) as http:
        flow_id = _send(http, "GET", "/flows/name/gmail-sync", attempts=10).json()["id"]
        body = {
            "name": "gmail-sync",
            "flow_id": flow_id,
            "entrypoint": "flows/gmail_sync.py:gmail_sync",
            "parameter_openapi_schema": parameter_schema(gmail_sync.fn).model_dump(),
        }
        response = _send(http, "POST", "/deployments/", attempts=10, json=body)
        response.raise_for_status()
        return str(response.json()["id"])


def _shoot(url: str, png: Path, profile: Path) -> None:
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000",
           f"--screenshot={png}", url]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    print(f"{png}  <- {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--messages", type=int, default=60)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from receipt_sync.samples import generate_messages
    from tests.fakes.gmail_server import FakeGmailServer
    from tests.fixtures.mailbox import load

    with tempfile.TemporaryDirectory(prefix="receipts-shots-") as name, FakeGmailServer(
        refresh_tokens=[REFRESH_TOKEN], address="owner@acme.example"
    ) as gmail:  # fmt: skip
        tmp = Path(name)
        load(gmail, [m for m in generate_messages(args.messages, seed=7) if m.truth.kind != "malformed"])
        for n in range(3):
            gmail.add_message(BROKEN % (n, n))
        prefect_port, api_port = _free_port(), _free_port()
        env = _environment(tmp, gmail.url, gmail.token_uri, prefect_port)
        os.environ.update(env)
        full_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(prefect_port),
        ]
        api = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(api_port)]  # fmt: skip
        ui = f"http://127.0.0.1:{prefect_port}"
        with _started(server, full_env, tmp / "prefect.log", f"{ui}/api/health"):
            flow_run_id, artifact_id = _sync(args.messages)
            deployment_id = _deployment(f"{ui}/api")
            with _started(api, full_env, tmp / "api.log", f"http://127.0.0.1:{api_port}/healthz"):
                shots = {
                    "flow-run.png": f"{ui}/runs/flow-run/{flow_run_id}",
                    "deployment-run-form.png": f"{ui}/deployments/deployment/{deployment_id}/run",
                    "summary-artifact.png": f"{ui}/artifacts/artifact/{artifact_id}",
                    "api-docs.png": f"http://127.0.0.1:{api_port}/docs",
                }
                for file, url in shots.items():
                    _shoot(url, args.out / file, tmp / "chromium")


if __name__ == "__main__":
    main()
