"""Benchmark: API latency (p50/p95/p99) at 1,000,000 receipts across 1,000 businesses on PostgreSQL.

A throwaway PostgreSQL server (tests/fixtures/postgres.py) is migrated and filled server-side with
`generate_series`; the API runs under uvicorn (one worker) on 127.0.0.1 in a subprocess, and the load comes
from a second process (this module with `--load`) using keep-alive HTTP connections from a thread pool. Each
request picks a random business (its member token). Endpoints are measured one after another, each with the
same number of requests at the same concurrency:

- `GET /api/receipts` first page, and a deep keyset page (the cursor of the row 90% down the business's list),
- `GET /api/receipts/stats`,
- `GET /api/receipts/sync/latest` — the sync runs have no `flow_run_id` and PREFECT_API_URL is unset, so the
  endpoint answers from the database alone (200) and never calls Prefect.

    .venv/bin/python -m bench.api_latency                      # 1,000,000 receipts, 1,000 businesses
    .venv/bin/python -m bench.api_latency --receipts 100000 --businesses 100 --requests 500   # quick
    .venv/bin/python -m bench.api_latency --concurrency 1 4 8 16   # service time, then rising load
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # tests.fixtures

SEED_BUSINESSES = (
    "INSERT INTO business (id, name, created_at) SELECT g, 'Business ' || g, now() FROM generate_series(1, %(m)s) g"
)
SEED_RECEIPTS = """
INSERT INTO receipt (business_id, source_message_id, subject, sender, received_at, vendor, total, currency,
    receipt_date, is_credit_note, confidence, status, created_at, updated_at)
SELECT b, 'msg-' || g, 'Your receipt #' || g, 'billing@vendor' || (g %% 50) || '.example',
    CASE WHEN g %% 200 = 0 THEN NULL ELSE ts END, 'Vendor ' || (g %% 50), round((random() * 500)::numeric, 2),
    (ARRAY['USD', 'EUR', 'GBP'])[1 + g %% 3], ts::date, g %% 97 = 0, 0.9,
    (ARRAY['new', 'reviewed', 'rejected'])[1 + (g / 7) %% 3], now(), now()
FROM (SELECT g, 1 + g %% %(m)s AS b, now() - random() * interval '730 days' AS ts
      FROM generate_series(1, %(n)s) g) s
"""
SEED_SYNC_RUNS = """
INSERT INTO sync_run (business_id, mode, status, trigger, pages_done, messages_scanned, receipts_saved,
    duplicates_skipped, errors_count, percent, started_at, heartbeat_at, finished_at, created_at, updated_at)
SELECT b, 'incremental', 'completed', 'schedule', 3, 150, 20, 5, 0, 100.0,
    now() - (r * interval '1 hour'), now() - (r * interval '1 hour') + interval '2 minutes',
    now() - (r * interval '1 hour') + interval '2 minutes', now() - (r * interval '1 hour'), now()
FROM generate_series(1, %(m)s) b, generate_series(1, %(runs)s) r ORDER BY r DESC, b
"""
DEEP_ROWS = """
SELECT business_id, received_at, id FROM (
    SELECT business_id, received_at, id, row_number() OVER (PARTITION BY business_id
        ORDER BY received_at DESC NULLS FIRST, id DESC) AS rn,
    count(*) OVER (PARTITION BY business_id) AS n FROM receipt) s
WHERE rn = greatest(1, (n * 9) / 10)
"""


def seed(admin_url: str, receipts: int, businesses: int, runs: int = 5) -> dict[int, dict[str, str]]:
    """Fill the database; returns per business its member token and deep-page cursor."""
    import psycopg2

    from models.queries.receipts import Cursor
    from models.queries.tokens import TOKEN_PREFIX, hash_token

    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        cur.execute(SEED_BUSINESSES, {"m": businesses})
        cur.execute(SEED_RECEIPTS, {"m": businesses, "n": receipts})
        cur.execute(SEED_SYNC_RUNS, {"m": businesses, "runs": runs})
        tokens = {b: TOKEN_PREFIX + secrets.token_urlsafe(32) for b in range(1, businesses + 1)}
        rows = [(b, hash_token(t), t[:10]) for b, t in tokens.items()]
        cur.executemany(
            "INSERT INTO api_token (business_id, role, token_hash, prefix, created_at)"
            " VALUES (%s, 'member', %s, %s, now())",
            rows,
        )
        cur.execute(DEEP_ROWS)
        deep = {b: Cursor(received, rid).encode() for b, received, rid in cur.fetchall()}
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return {b: {"token": tokens[b], "deep": deep[b]} for b in tokens}


@contextmanager
def api_server(database_url: str, workers: int = 1) -> Iterator[int]:
    """uvicorn with `workers` processes on a free 127.0.0.1 port; yields the port once /healthz answers."""
    from tests.fixtures.postgres import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(REPO_ROOT), DATA_DIR=str(REPO_ROOT / "data"))
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, start_new_session=True)
    try:
        _wait_healthy(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("uvicorn exited during startup")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("uvicorn did not become healthy")


# ---- load generator (runs in its own process: `python -m bench.api_latency --load`) ----

ENDPOINTS: dict[str, str] = {
    "GET /api/receipts (first page)": "/api/receipts?limit=50",
    "GET /api/receipts (deep keyset page)": "/api/receipts?limit=50&cursor={deep}",
    "GET /api/receipts/stats": "/api/receipts/stats",
    "GET /api/receipts/sync/latest": "/api/receipts/sync/latest",
}


class Worker(threading.local):
    conn: http.client.HTTPConnection | None = None


def _one(port: int, local: Worker, path: str, token: str) -> tuple[float, int]:
    if local.conn is None:
        local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    local.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = local.conn.getresponse()
    resp.read()
    return time.perf_counter() - start, resp.status


def run_endpoint(port: int, template: str, biz: list[dict[str, str]], cfg: dict[str, Any]) -> dict[str, Any]:
    """`requests` requests at `concurrency`, each for a random business; stops early at `time_limit`."""
    local, deadline = Worker(), time.monotonic() + cfg["time_limit"]

    def task(_: int) -> tuple[float, int] | None:
        if time.monotonic() > deadline:
            return None
        b = random.choice(biz)
        return _one(port, local, template.format(deep=quote(b["deep"])), b["token"])

    for i in range(min(50, cfg["requests"])):  # warm-up: connections, plans, caches
        task(i)
    started = time.perf_counter()
    with ThreadPoolExecutor(cfg["concurrency"]) as pool:
        results = [r for r in pool.map(task, range(cfg["requests"])) if r is not None]
    elapsed = time.perf_counter() - started
    return _summary(results, elapsed)


def _summary(results: list[tuple[float, int]], elapsed: float) -> dict[str, Any]:
    times = sorted(t for t, _ in results)

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))] * 1000

    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(times),
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "rps": len(times) / elapsed,
        "statuses": statuses,
    }


def load_main() -> None:
    """Entry of the load process: config on stdin (JSON), results on stdout (JSON)."""
    cfg = json.load(sys.stdin)
    biz = cfg["businesses"]
    out = {name: run_endpoint(cfg["port"], path, biz, cfg) for name, path in ENDPOINTS.items()}
    json.dump(out, sys.stdout)


# ---- orchestration ----


def run_load(port: int, biz: dict[int, dict[str, str]], args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    """One load process at `concurrency`; the tokens travel on its stdin, never on a command line."""
    cfg = {
        "port": port,
        "businesses": list(biz.values()),
        "requests": args.requests,
        "concurrency": concurrency,
        "time_limit": args.time_limit,
    }
    cmd = [sys.executable, "-m", "bench.api_latency", "--load"]
    done = subprocess.run(cmd, input=json.dumps(cfg), capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    return json.loads(done.stdout)


def print_table(results: dict[str, Any]) -> None:
    header = f"{'endpoint':<40} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}  statuses"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:<40} {r['requests']:>8} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} {r['rps']:>8.1f}"
            f"  {r['statuses']}"
        )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--receipts", type=int, default=1_000_000)
    p.add_argument("--businesses", type=int, default=1_000)
    p.add_argument("--requests", type=int, default=2_000, help="per endpoint")
    p.add_argument("--concurrency", type=int, nargs="+", default=[8], help="one table per value, e.g. 1 4 8")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per endpoint at most")
    p.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.load:
        load_main()
        return
    from models.db import migrate
    from tests.fixtures.postgres import postgres_server

    with postgres_server() as pg:
        url = pg.url(pg.create_database())
        migrate(url)
        started = time.perf_counter()
        biz = seed(url.replace("+psycopg2", ""), args.receipts, args.businesses)
        took = time.perf_counter() - started
        print(f"seeded {args.receipts:,} receipts / {args.businesses:,} businesses in {took:.1f} s", flush=True)
        with api_server(url, args.api_workers) as port:
            for concurrency in args.concurrency:
                results = run_load(port, biz, args, concurrency)
                where = f"uvicorn {args.api_workers} worker(s), load from a separate process on 127.0.0.1"
                print(f"\nconcurrency {concurrency}, {where}")
                print_table(results)


if __name__ == "__main__":
    main()
