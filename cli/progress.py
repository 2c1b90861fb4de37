"""A sync run in this process, with a progress bar that follows its run record in the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli import deferred
from cli.common import console, session
from models.queries.sync_runs import latest_sync_run
from receipt_sync.polling import repeating


def run_with_progress(business_id: int, label: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a flow in this process while a progress bar follows its sync run record.

    The bar is a courtesy (a failed look is skipped); the flow's own result is what counts."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console, transient=False,
    ) as progress:  # fmt: skip
        bar = progress.add_task(label, total=100, detail="starting")
        with repeating(lambda: _show_run(business_id, progress, bar), every=0.5, name="cli-progress"):
            result = run()
        progress.update(bar, completed=100, detail=_detail(result))
    return result


def _detail(run: dict[str, Any]) -> str:
    return (
        f"{run.get('messages_scanned', 0)} scanned, {run.get('receipts_saved', 0)} saved, "
        f"{run.get('duplicates_skipped', 0)} skipped, {run.get('errors', run.get('errors_count', 0))} errors"
    )


def _show_run(business_id: int, progress: Progress, bar: TaskID) -> None:
    with session() as db:
        run = latest_sync_run(db, business_id)
        if run is not None and run.status == "running":
            progress.update(bar, completed=run.percent, detail=_detail(run.__dict__))


def sync_in_process(business_id: int, **params: Any) -> dict[str, Any]:
    """The `gmail-sync` flow called in this process (the embedded default), tagged like a deployment run."""
    return deferred.run_gmail_sync(business_id, **params)
