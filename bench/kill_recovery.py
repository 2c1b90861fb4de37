"""A killed worker's run: how long until it is seen dead and a sync can resume it (issue 11 item 4, goal 60 s).

    .venv/bin/python -m bench.kill_recovery [--kills 3] [--messages 300]

The production settings (10 s run heartbeats, stale after 45 s; workers beating every 10 s) under real
processes on 127.0.0.1: PostgreSQL from the wheel, `prefect server` on it, the gmail-sync deployment from
prefect.yaml, a process worker, the API under uvicorn, and the fake Gmail in its own process answering slowly
enough to kill the worker between pages. Each kill is SIGKILL of the worker and its flow process (no handler
runs); a new worker is started at once, as a supervisor would, and the API is asked every 2 s to sync again.
Measured per kill, from the kill: when the API first reports the run `stale`, when a trigger is accepted (202,
resuming the dead run's checkpoint), and when Prefect shows the dead flow run Crashed. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.fleet_bench import REFRESH_TOKEN, GmailProcess

SEED = 5


def _business(token_plain: str) -> dict[str, str]:
    from models.db import session_scope
    from models.mailbox import MailboxConnection
    from models.queries.businesses import create_business
    from models.queries.tokens import create_api_token
    from receipt_sync.crypto import TokenCipher
    from receipt_sync.settings import get_settings

    token = TokenCipher(get_settings().encryption_key).encrypt(token_plain)
    with session_scope() as session:
        business = create_business(session, f"Killed {time.time_ns()}")
        session.add(MailboxConnection(business_id=business.id, provider="gmail", address="k@bench.example",
                                      encrypted_refresh_token=token))  # fmt: skip
        session.flush()
        api_token = create_api_token(session, business.id, "member")
    return {"Authorization": f"Bearer {api_token}"}


def _until(check: Any, timeout: float, every: float = 0.5) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic()
        time.sleep(every)
    return None


def one_kill(http: httpx.Client, server: Any, env: dict[str, str], gmail: GmailProcess) -> dict[str, Any]:
    from tests.fixtures.prefect_server import kill_hard, prefect_worker

    headers = _business(REFRESH_TOKEN)
    gmail.command("set", latency=0.3)
    latest = lambda: http.get("/api/receipts/sync/latest", headers=headers).json()  # noqa: E731
    with prefect_worker(server, env=env) as worker:
        first = http.post("/api/receipts/sync", json={"mode": "full"}, headers=headers)
        assert first.status_code == 202, first.text
        running = _until(lambda: latest()["status"] == "running" and latest()["pages_done"] >= 1, 240)
        assert running, latest()
        kill_hard(worker)
        killed = time.monotonic()
    flow_run_id = first.json()["flow_run_id"]
    with prefect_worker(server, env=env):
        seen = _until(lambda: latest().get("stale") or latest()["status"] == "failed", 180, every=1)
        accepted = _until(
            lambda: http.post("/api/receipts/sync", json={"mode": "full"}, headers=headers).status_code == 202,
            180,
            every=2,
        )
        state = httpx.get(f"{server.api_url}/flow_runs/{flow_run_id}", timeout=10).json()["state"]["type"]
        gmail.command("set", latency=0.0)
        resumed = latest()
        done = _until(lambda: latest()["status"] in ("completed", "failed"), 300, every=2)
    return {
        "seen_dead_s": round(seen - killed, 1) if seen else None,
        "resumable_s": round(accepted - killed, 1) if accepted else None,
        "dead_flow_run_state": state,
        "resumed_from_run": resumed.get("rerun_of_id"),
        "resumed_run_finished": latest()["status"] if done else "timeout",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    from cryptography.fernet import Fernet

    from models.db import migrate
    from tests.fixtures.postgres import postgres_server
    from tests.fixtures.prefect_server import api_server, prefect_server

    with postgres_server() as pg, GmailProcess(args.messages, SEED) as gmail:
        pg.execute("CREATE DATABASE bench")
        pg.execute("CREATE DATABASE prefect")
        migrate(pg.url("bench"))
        with prefect_server(pg.url("prefect", driver="asyncpg")) as server:
            env = {
                "DATABASE_URL": pg.url("bench"),
                "GMAIL_API_ENDPOINT": gmail.url,
                "GOOGLE_TOKEN_URI": gmail.token_uri,
                "GOOGLE_CLIENT_ID": "bench.apps.example",
                "GOOGLE_CLIENT_SECRET": "bench-secret",
                "ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "GMAIL_PAGE_SIZE": "10",
                "GMAIL_RECEIPT_QUERY": "",
                "GMAIL_PROJECT_RATE_LIMIT": "false",
                "PREFECT_WORKER_HEARTBEAT_SECONDS": "10",
            }
            os.environ.update(env, PREFECT_API_URL=server.api_url)
            from receipt_sync.settings import get_settings

            get_settings.cache_clear()
            cmd = [str(Path(sys.executable).parent / "prefect"), "--no-prompt", "deploy",
                   "--name", "gmail-sync"]  # fmt: skip
            from tests.fixtures.prefect_server import REPO_ROOT

            httpx.post(f"{server.api_url}/work_pools/", json={"name": "receipts", "type": "process"}, timeout=30)
            deployed = subprocess.run(cmd, cwd=REPO_ROOT, env=server.env(), capture_output=True, text=True)
            assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
            results = []
            with api_server(server.env(**env)) as base, httpx.Client(base_url=base, timeout=30) as http:
                for _ in range(args.kills):
                    results.append(one_kill(http, server, env, gmail))
                    print(json.dumps(results[-1]), flush=True)
    resumable = [r["resumable_s"] for r in results if r["resumable_s"] is not None]
    summary = {"kills": results, "resumable_s_max": max(resumable, default=None)}
    if resumable:
        summary["resumable_s_median"] = statistics.median(resumable)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
