"""`receipts up`: the whole product on one machine without Docker, started and stopped as one.

Starts PostgreSQL from pip (DATA_DIR/postgres, a Unix socket only) for the product database and the Prefect
server — unless DATABASE_URL / PREFECT_SERVER_DATABASE_CONNECTION_URL name a managed PostgreSQL — then the
Prefect server with its UI, registers the deployments and automations (`deploy_all`), starts a process worker
on the pool and the API under uvicorn, prints the URLs, then waits. SQLite is never used here: the server,
worker, flow runs and API write at once, and SQLite answers that with "database is locked".
Every child runs in its own process group with its output in DATA_DIR/logs; Ctrl-C (SIGINT) or SIGTERM stops
them in reverse order — SIGTERM to the group, SIGKILL after a grace period — so nothing is left behind.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_AUTH_STRING, temporary_settings
from sqlalchemy.engine import make_url

from deployments import capacity
from deployments.deploy import PROJECT_ROOT, DeployReport, deploy_all, prefect_executable
from deployments.local_postgres import LocalPostgres, start_local_postgres
from receipt_sync.errors import ConfigurationError, OrchestratorUnavailable
from receipt_sync.polling import poll_until
from receipt_sync.retry import backoff_delays
from receipt_sync.settings import Settings, get_settings, load_settings
from services.retention import prefect_retention_env

HOST = "127.0.0.1"
GRACE_SECONDS = 10.0
# uvicorn options every launcher passes (here and docker-compose.yml): bounded header block, bounded concurrent
# connections (more get 503), idle keep-alive connections closed after 5 s. Body size: api/middleware.py.
UVICORN_LIMITS = ["--h11-max-incomplete-event-size", "16384", "--limit-concurrency", "200", "--timeout-keep-alive", "5"]
PRODUCT_DB, PREFECT_DB = "receipts", "prefect"
PREFECT_DB_VARIABLES = ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")
# Enough for the Prefect server's pools, a worker's flow runs and the API (PostgreSQL's default is 100).
LOCAL_SERVER_SETTINGS = {"max_connections": "300"}


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    essential: bool = True
    reported: bool = False


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


@dataclass
class Stack:
    """What `up` started, in start order; stopped in reverse. `stopping` is set by Ctrl-C/SIGTERM.

    `postgres` (when `up` started one) is stopped last, after everything that writes to it.
    """

    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    postgres: LocalPostgres | None = None

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path, *, essential: bool = True) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        child = Child(name, proc, log, essential)
        self.children.append(child)
        return child

    def stop(self, say: Callable[[str], None]) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                say(f"stopping {child.name} (pid {child.proc.pid})")
            stop_group(child.proc)
        if self.postgres is not None:
            say(f"stopping PostgreSQL ({self.postgres.pgdata})")
            self.postgres.stop()


def stop_group(proc: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the child's process group (its flow runs too), SIGKILL whatever outlives the grace period."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(proc.pid):
            break
    if proc.poll() is None:
        proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def require_free_port(port: int, flag: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex((HOST, port)) == 0:
            raise ConfigurationError(f"port {port} on {HOST} is already in use: stop what uses it or pass {flag}")


def wait_until(check: Callable[[], bool], child: Child, what: str, timeout: float, stopping: threading.Event) -> None:
    def ready() -> bool:
        if stopping.is_set():
            raise Interrupted(what)
        if child.proc.poll() is not None:
            raise ConfigurationError(
                f"{what} exited (code {child.proc.returncode}); see {child.log}:\n{_tail(child.log)}"
            )
        return check()

    try:
        poll_until(ready, what=what, timeout=timeout, every=0.3)
    except TimeoutError:
        raise ConfigurationError(
            f"{what} did not become ready in {timeout:.0f} s; see {child.log}:\n{_tail(child.log)}"
        ) from None


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _prefect_auth() -> tuple[str, str] | None:
    """Basic auth for the Prefect API when PREFECT_SERVER_API_AUTH_STRING (`user:password`) locks it."""
    user, sep, password = os.environ.get("PREFECT_SERVER_API_AUTH_STRING", "").partition(":")
    return (user, password) if sep else None


def worker_online(api_url: str, pool: str, name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            auth = _prefect_auth()
            resp = httpx.post(f"{api_url}/work_pools/{pool}/workers/filter", json={}, timeout=2.0, auth=auth)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and any(w["name"] == name and w["status"] == "ONLINE" for w in resp.json())

    return check


@dataclass(frozen=True)
class UpConfig:
    api_port: int = 8000
    prefect_port: int = 4200
    data_dir: Path = Path("./data")
    prefect_database_url: str | None = None  # the Prefect server's; None: its own variables

    @property
    def prefect_api_url(self) -> str:
        return f"http://{HOST}:{self.prefect_port}/api"

    @property
    def prefect_ui_url(self) -> str:
        return f"http://{HOST}:{self.prefect_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"


def child_env(config: UpConfig, **extra: str) -> dict[str, str]:
    """The caller's environment (DATABASE_URL, ENCRYPTION_KEY, ...) pointed at the Prefect server `up` runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_PROFILE",)}
    env.update(
        DATA_DIR=str(config.data_dir),
        PREFECT_HOME=str(config.data_dir / "prefect"),
        PREFECT_API_URL=config.prefect_api_url,
        PREFECT_UI_URL=config.prefect_ui_url,
        PREFECT_UI_API_URL=config.prefect_api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    if os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):  # a locked server: its worker, API and CLI authenticate
        env["PREFECT_API_AUTH_STRING"] = os.environ["PREFECT_SERVER_API_AUTH_STRING"]
    env.update(extra)
    return env


def managed_prefect_database() -> str | None:
    """The operator's PostgreSQL for Prefect, when they name one (either of Prefect's two variable names)."""
    return next((os.environ[v] for v in PREFECT_DB_VARIABLES if os.environ.get(v, "").strip()), None)


def with_local_postgres(config: UpConfig, stack: Stack, say: Callable[[str], None]) -> UpConfig:
    """Start PostgreSQL under DATA_DIR/postgres for whichever database the operator did not name.

    The product database's URL goes into this process's DATABASE_URL, so `up` itself (migrations,
    `deploy_all`) and every child it starts use it.
    """
    from dataclasses import replace

    need_product = not os.environ.get("DATABASE_URL", "").strip()
    prefect_url = managed_prefect_database()
    if not need_product and prefect_url:
        return replace(config, prefect_database_url=prefect_url)
    say(f"starting PostgreSQL in {config.data_dir / 'postgres'} ...")
    try:
        server = start_local_postgres(config.data_dir / "postgres", LOCAL_SERVER_SETTINGS)
    except (subprocess.SubprocessError, OSError) as exc:
        log = config.data_dir / "postgres" / "log"
        raise ConfigurationError(
            f"PostgreSQL did not start ({type(exc).__name__}); see {log}, or set DATABASE_URL and "
            "PREFECT_SERVER_DATABASE_CONNECTION_URL to a PostgreSQL of your own"
        ) from None
    stack.postgres = server
    for name in (PRODUCT_DB, PREFECT_DB):
        server.ensure_database(name)
    if need_product:
        os.environ["DATABASE_URL"] = server.url(PRODUCT_DB)
        get_settings.cache_clear()
    return replace(config, prefect_database_url=prefect_url or server.url(PREFECT_DB, driver="asyncpg"))


def _venv_bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def prefect_server_env(config: UpConfig, settings: Settings) -> dict[str, str]:
    """The Prefect server's environment: its database, and its history bounded by the db_vacuum service."""
    env = child_env(config)
    for name in PREFECT_DB_VARIABLES:
        env.pop(name, None)
    if config.prefect_database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = config.prefect_database_url
    env.update(prefect_retention_env(settings, env))
    return env


def start_prefect_server(stack: Stack, config: UpConfig, logs: Path) -> None:
    cmd = [prefect_executable(), "server", "start", "--host", HOST, "--port", str(config.prefect_port)]
    env = prefect_server_env(config, get_settings())
    child = stack.start("prefect server", cmd, env, logs / "prefect-server.log")
    wait_until(http_ok(f"{config.prefect_api_url}/health"), child, "the Prefect server", 120, stack.stopping)


def start_worker(stack: Stack, config: UpConfig, settings: Settings, logs: Path) -> str:
    name = f"receipts-up-{socket.gethostname()}-{os.getpid()}"
    pool = settings.prefect_work_pool
    limit = str(capacity.worker_limit(settings))
    cmd = [prefect_executable(), "worker", "start", "--pool", pool, "--type", "process", "--name", name]
    cmd += ["--limit", limit]  # runs queue instead of stampeding (deployments/capacity.py)
    # Heartbeats every 10 s (Prefect's default is 30): the API then stops accepting runs for a dead worker
    # within ~30 s (WORKER_MISSED_HEARTBEATS) instead of Prefect's 90 s.
    env = child_env(config)
    env.setdefault("PREFECT_WORKER_HEARTBEAT_SECONDS", "10")
    child = stack.start("worker", cmd, env, logs / "worker.log", essential=False)
    wait_until(worker_online(config.prefect_api_url, pool, name), child, "the worker", 90, stack.stopping)
    return name


def start_api(stack: Stack, config: UpConfig, logs: Path) -> None:
    cmd = [_venv_bin("uvicorn"), "api.app:create_app", "--factory", "--host", HOST, "--port", str(config.api_port)]
    cmd += UVICORN_LIMITS
    child = stack.start("API", cmd, child_env(config), logs / "api.log")
    wait_until(http_ok(f"{config.api_url}/healthz"), child, "the API", 60, stack.stopping)


def _print_ready(say: Callable[[str], None], config: UpConfig, stack: Stack, worker: str, pool: str) -> None:
    pids = ", ".join(f"{c.name} {c.proc.pid}" for c in stack.children)
    url = make_url(os.environ["DATABASE_URL"])
    hidden = url.render_as_string(hide_password=True)
    # A managed database's password is never printed: that shell already has its DATABASE_URL.
    database = shlex.quote(hidden) if url.password is None else '"$DATABASE_URL"  # yours, password not printed'

    say(
        "\nReceipt Sync is up:\n"
        f"  Prefect UI   {config.prefect_ui_url}\n"
        f"  Prefect API  {config.prefect_api_url}\n"
        f"  API          {config.api_url}   (docs: {config.api_url}/docs)\n"
        f"  worker       {worker} polling work pool '{pool}'\n"
        f"  database     {hidden}\n"
        f"  logs         {config.data_dir / 'logs'}\n"
        f"  pids         {pids}\n"
        "To use this stack from another shell (receipts sync/export/doctor, prefect):\n"
        f"  export PREFECT_API_URL={config.prefect_api_url}\n"
        f"  export DATABASE_URL={database}\n"
        f"  export DATA_DIR={shlex.quote(str(config.data_dir))}\n"
        "Press Ctrl-C to stop everything."
    )


class Stopper:
    """SIGINT/SIGTERM set a flag the main loop watches (signal handlers must not do the work themselves)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.signal_name = ""

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()


def watch(stack: Stack, stopper: Stopper, say: Callable[[str], None]) -> int:
    """Wait for a signal; a lost worker is reported (doctor and the API's 503 say so), a lost server ends `up`."""
    while not stopper.event.wait(0.5):
        for child in stack.children:
            if child.proc.poll() is None or child.reported:
                continue
            child.reported = True
            say(f"{child.name} exited with code {child.proc.returncode}; see {child.log}")
            if child.essential:
                return 1
    say(f"\n{stopper.signal_name} received")
    return 0


def run_up(config: UpConfig, say: Callable[[str], None] = print) -> int:
    """Start everything, wait for Ctrl-C/SIGTERM, stop everything; returns the exit status."""
    require_free_port(config.prefect_port, "--prefect-port")
    require_free_port(config.api_port, "--api-port")
    load_settings(prefect_api_url=config.prefect_api_url, data_dir=config.data_dir)  # fail fast on bad settings
    logs = config.data_dir / "logs"
    stack = Stack()
    stopper = Stopper(stack.stopping)
    stopper.install()
    try:
        with authenticated_as_server_client():
            return _start_and_watch(config, stack, stopper, logs, say)
    except Interrupted:
        say(f"\n{stopper.signal_name} received while starting")
        return 130
    finally:
        stack.stop(say)
        say("stopped.")


@contextmanager
def authenticated_as_server_client() -> Iterator[None]:
    """`up` itself (deploy, reconcile, `prefect deploy`) talks to the server it locked, like its children do."""
    auth = _prefect_auth()
    if auth is None:
        yield
        return
    os.environ["PREFECT_API_AUTH_STRING"] = ":".join(auth)  # the `prefect deploy` subprocess
    with temporary_settings({PREFECT_API_AUTH_STRING: ":".join(auth)}):  # this process's Prefect clients
        yield


def _start_and_watch(config: UpConfig, stack: Stack, stopper: Stopper, logs: Path, say: Callable[[str], None]) -> int:
    """Start the stack in order, print where it is, then wait for a signal."""
    config = with_local_postgres(config, stack, say)
    settings = load_settings(prefect_api_url=config.prefect_api_url, data_dir=config.data_dir)
    _migrate(settings, say)
    say(f"starting the Prefect server on {config.prefect_ui_url} ...")
    start_prefect_server(stack, config, logs)
    say("registering deployments and automations (prefect deploy --all) ...")
    report = _deploy_with_retries(settings)
    for line in [*report.deployments, *report.automations, *report.notes]:
        say(f"  {line}")
    say(f"reconciler (runs left by an earlier session): {_reconcile(settings)}")
    say("starting a worker and the API ...")
    worker = start_worker(stack, config, settings, logs)
    start_api(stack, config, logs)
    _print_ready(say, config, stack, worker, settings.prefect_work_pool)
    return watch(stack, stopper, say)


def _deploy_with_retries(settings: Settings, attempts: int = 5) -> DeployReport:
    """A server that just answered /health can still be finishing its start-up (services, migrations)."""
    for delay in backoff_delays(1.0, attempts - 1):
        try:
            return deploy_all(settings, interval_minutes=settings.incremental_sync_interval_minutes)
        except OrchestratorUnavailable:
            time.sleep(delay)
    return deploy_all(settings, interval_minutes=settings.incremental_sync_interval_minutes)


def _reconcile(settings: Settings) -> str:
    """End runs whose processes died with an earlier `up` (killed, machine restarted): failed, Crashed."""
    from services.reconcile import reconcile_runs

    return reconcile_runs(settings).summary()


def _migrate(settings: Settings, say: Callable[[str], None]) -> None:
    from models.db import migrate

    migrate(settings.resolved_database_url)
    say("database migrated")
