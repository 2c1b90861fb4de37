"""A sync run in this process, with a progress bar that follows its run record in the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli import deferred
from cli.common import console, session
from models.queries.sync_runs import latest_sync_run
from receipt_sync.jsontypes import JsonObject
from receipt_sync.polling import repeating


def run_with_progress(business_id: int, label: str, run: Callable[[], JsonObject]) -> JsonObject:
    """Run a flow in this process while a progress bar follows its sync run record.

    The bar is a courtesy (a failed look is skipped); the flow's own result is what counts."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console, transient=False,
    ) as progress:  # fmt: skip
        bar = progress.add_task(label, total=100, detail="starting")
        with repeating(lambda: _show_run(business_id, progress, bar), every=0.5, name="cli-progress"):
            result = run()
        progress.update(bar, completed=100, detail=_result_detail(result))
    return result


def _detail(scanned: object, saved: object, skipped: object, errors: object) -> str:
    return f"{scanned} scanned, {saved} saved, {skipped} skipped, {errors} errors"


def _result_detail(result: JsonObject) -> str:
    """The flow's result: a summary (tasks/runs.py `SyncSummary.as_dict`), or a run that had already completed."""
    errors = result.get("errors", result.get("errors_count", 0))
    return _detail(result.get("messages_scanned", 0), result.get("receipts_saved", 0),
                   result.get("duplicates_skipped", 0), errors)  # fmt: skip


def _show_run(business_id: int, progress: Progress, bar: TaskID) -> None:
    with session() as db:
        run = latest_sync_run(db, business_id)
        if run is not None and run.status == "running":
            detail = _detail(run.messages_scanned, run.receipts_saved, run.duplicates_skipped, run.errors_count)
            progress.update(bar, completed=run.percent, detail=detail)


def sync_in_process(business_id: int, **params: Any) -> JsonObject:
    """The `gmail-sync` flow called in this process (the embedded default), tagged like a deployment run."""
    return deferred.run_gmail_sync(business_id, **params)
