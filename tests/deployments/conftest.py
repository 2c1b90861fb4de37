"""One `receipts up` for the whole tests/deployments session: a real Prefect server, worker and API.

It runs against its own migrated PostgreSQL database and the fake Gmail server, with 5-second worker heartbeats
so a stopped worker shows OFFLINE in ~15 s instead of 90 s. Tests that need the product's database in this
process use `up_env` (settings pointed at the same database as `up`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from models.db import dispose_engines
from receipt_sync.polling import poll_until
from tests.conftest import SettingsOverride
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.postgres import TEMPLATE_DB, PostgresServer, free_port
from tests.fixtures.prefect_server import REPO_ROOT, VENV_BIN, descendants

REFRESH_TOKEN = "1//rt-up-secret-5d2e-do-not-log"
READY_LINE = "Press Ctrl-C to stop everything."


@dataclass
class UpProcess:
    proc: subprocess.Popen[str]
    api_url: str
    prefect_api_url: str
    ui_url: str
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def child_pids(self) -> dict[str, int]:
        """`pids  prefect server 1, worker 2, API 3` from the ready banner."""
        line = next(x for x in self.lines if x.strip().startswith("pids"))
        pairs = [p.strip().rsplit(" ", 1) for p in line.split("pids", 1)[1].split(",")]
        return {name: int(pid) for name, pid in pairs}


def _read_lines(up: UpProcess) -> None:
    assert up.proc.stdout is not None
    for line in up.proc.stdout:
        up.lines.append(line.rstrip("\n"))


def _wait_ready(up: UpProcess, timeout: float) -> None:
    def ready() -> bool:
        if up.proc.poll() is not None:
            raise RuntimeError(f"receipts up did not start:\n{up.output}")
        return READY_LINE in up.lines

    try:
        poll_until(ready, what="receipts up", timeout=timeout)
    except TimeoutError:
        raise RuntimeError(f"receipts up did not start:\n{up.output}") from None


def stop_up(up: UpProcess, sig: int = signal.SIGINT, timeout: float = 60) -> int:
    if up.proc.poll() is None:
        up.proc.send_signal(sig)
    return up.proc.wait(timeout=timeout)


class Webhook(ThreadingHTTPServer):
    """Collects the JSON bodies Prefect's notification block POSTs (the alerts)."""

    received: list[dict[str, str]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/alerts"


class _Collect(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(json.loads(body or b"{}"))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def alert_webhook() -> Iterator[Webhook]:
    server = Webhook(("127.0.0.1", 0), _Collect)
    server.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def up_gmail() -> Iterator[FakeGmailServer]:
    with FakeGmailServer(refresh_tokens=[REFRESH_TOKEN], address="owner@up.example") as server:
        yield server


@pytest.fixture(scope="session")
def up_db(pg_server: PostgresServer) -> str:
    return pg_server.url(pg_server.create_database(template=TEMPLATE_DB))


@pytest.fixture(scope="session")
def up_data_dir() -> Iterator[Path]:
    """`up`'s DATA_DIR, outside pytest's temp root: `up` runs PostgreSQL there as an unprivileged user, and
    every pytest session on the machine resets that root to mode 0700, which would lock the server out."""
    data = Path(tempfile.mkdtemp(prefix="receipts-up-"))
    yield data
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def up_settings(up_db: str, up_gmail: FakeGmailServer, alert_webhook: Webhook, up_data_dir: Path) -> dict[str, str]:
    data = up_data_dir
    return {
        "DATABASE_URL": up_db,
        "DATA_DIR": str(data),
        "STORAGE_URL": str(data / "documents"),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "GMAIL_API_ENDPOINT": up_gmail.url,
        "GOOGLE_TOKEN_URI": up_gmail.token_uri,
        "GOOGLE_CLIENT_ID": "test-client.apps.example",
        "GOOGLE_CLIENT_SECRET": "test-client-secret",
        "GMAIL_PAGE_SIZE": "10",
        "TASK_RETRY_BASE_SECONDS": "0.05",
        "GMAIL_QUOTA_UNITS_PER_MINUTE": "600000",  # the fake Gmail is not rate-limited here
        "DIAGNOSTIC_KEY": "diag-key-for-up-tests-0123456789",
        "ALERT_WEBHOOK_URL": alert_webhook.url,
    }


@contextmanager
def running_up(settings: dict[str, str], timeout: float = 360) -> Iterator[UpProcess]:
    """`receipts up` on free ports with `settings` in its environment; stopped on exit, whatever happened."""
    api_port, prefect_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_WORKER_HEARTBEAT_SECONDS="5", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.update(settings)
    cmd = [str(VENV_BIN / "receipts"), "up", "--api-port", str(api_port), "--prefect-port", str(prefect_port)]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    prefect = f"http://127.0.0.1:{prefect_port}"
    up = UpProcess(proc, f"http://127.0.0.1:{api_port}", f"{prefect}/api", prefect, env)
    threading.Thread(target=_read_lines, args=(up,), daemon=True).start()
    try:
        _wait_ready(up, timeout=timeout)
        yield up
    finally:
        started = descendants(proc.pid)  # flow runs live in sessions of their own: not in up's process groups
        if proc.poll() is None:
            try:
                stop_up(up)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in started:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def receipts_up(up_settings: dict[str, str]) -> Iterator[UpProcess]:
    """`receipts up` on free ports; stopped (and its children checked) by the last test or at teardown."""
    with running_up(up_settings) as up:
        yield up


@pytest.fixture
def up_env(receipts_up: UpProcess, override_settings: SettingsOverride) -> Iterator[dict[str, str]]:
    """This test process's settings pointed at the database, storage, Gmail and Prefect that `up` uses."""
    env = {k: v for k, v in receipts_up.env.items() if k in _PRODUCT_KEYS}
    env["PREFECT_API_URL"] = receipts_up.prefect_api_url
    override_settings(env)
    yield env
    dispose_engines()


_PRODUCT_KEYS = {
    "DATABASE_URL", "DATA_DIR", "STORAGE_URL", "ENCRYPTION_KEY", "GMAIL_API_ENDPOINT", "GOOGLE_TOKEN_URI",
    "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GMAIL_PAGE_SIZE", "TASK_RETRY_BASE_SECONDS", "DIAGNOSTIC_KEY",
    "GMAIL_QUOTA_UNITS_PER_MINUTE",
}  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0].lower()
    except (OSError, IndexError):
        return ""
