"""`receipts runs`: the recent sync and deletion runs with their status, counters and errors.

The place for more about runs (a run's failed messages, reprocessing them): add commands with `register`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.common import out, require_business, session, shown
from models.deletion import DeletionRun
from models.queries.deletions import list_deletion_runs
from models.queries.sync_runs import list_sync_runs
from models.runs import SyncRun

ERROR_CHARS = 120


def _error(message: str | None) -> str:
    if not message:
        return "—"
    line = " ".join(message.split())
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


def _window(run: SyncRun) -> str:
    params = run.parameters or {}
    if params.get("from_date") or params.get("to_date"):
        return f"{params.get('from_date') or '…'}..{params.get('to_date') or 'now'}"
    return f"{params['months_back']} months" if run.mode == "full" and params.get("months_back") else "—"


def _took(started: datetime | None, finished: datetime | None) -> str:
    return f"{(finished - started).total_seconds():.0f} s" if started and finished else "—"


def sync_table(runs: list[SyncRun]) -> Table:
    table = Table("run", "business", "mode", "window", "status", "started", "took", "%", "scanned", "saved",
                  "errors", "error", title="Sync runs (newest first)")  # fmt: skip
    for r in runs:
        table.add_row(
            str(r.id), str(r.business_id), r.mode, _window(r), r.status, shown(r.started_at),
            _took(r.started_at, r.finished_at), f"{r.percent:.0f}", str(r.messages_scanned), str(r.receipts_saved),
            str(r.errors_count), _error(r.error_message),
        )  # fmt: skip
    return table


def deletion_table(runs: list[DeletionRun]) -> Table:
    table = Table("run", "business", "status", "started", "took", "receipts", "deleted", "failed", "error",
                  title="Deletion runs (newest first)")  # fmt: skip
    for r in runs:
        table.add_row(
            str(r.id), str(r.business_id), r.status, shown(r.started_at), _took(r.started_at, r.finished_at),
            str(r.total), str(r.succeeded), str(r.failed_count), _error(r.error_message),
        )  # fmt: skip
    return table


def runs(
    business: Annotated[int | None, typer.Option("--business", min=1, help="Only this business's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many runs of each kind.")] = 20,
) -> None:
    """The recent sync and deletion runs: status, counters and the error of those that failed."""
    with session() as db:
        if business is not None:
            require_business(db, business)
        syncs = list_sync_runs(db, business, before_id=None, limit=limit)
        deletions = list_deletion_runs(db, business, limit=limit)
        if not syncs and not deletions:
            out.print("no runs yet: start one with receipts sync --business ID")
            return
        out.print(sync_table(syncs) if syncs else "no sync runs")
        if deletions:
            out.print(deletion_table(deletions))


def register(app: typer.Typer) -> None:
    app.command()(runs)
