"""`receipts sync` and `receipts demo`: a sync now, in this process or through the deployment.

Everything that can refuse a sync is checked before Prefect is involved: the options (typed and parsed by
click, so a bad value is a usage error), the window, the business and its mailbox.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli import deferred
from cli.common import DAY, BusinessOpt, console, out, print_json, require_business, session
from cli.progress import run_with_progress, sync_in_process
from models.runs import SyncParameters
from receipt_sync.jsontypes import JsonObject
from receipt_sync.settings import get_settings

if TYPE_CHECKING:
    from services.demo import DemoScore


class SyncMode(StrEnum):
    incremental = "incremental"
    full = "full"
    range = "range"


@dataclass(frozen=True)
class SyncOptions:
    """What `receipts sync` was asked for, as the `gmail-sync` flow takes it (dates as dates)."""

    mode: str
    from_date: date | None
    to_date: date | None
    months_back: int
    max_messages: int | None

    def parameters(self) -> SyncParameters:
        """As the run record stores them (dates ISO)."""
        return SyncParameters(
            mode=self.mode,
            from_date=self.from_date.isoformat() if self.from_date else None,
            to_date=self.to_date.isoformat() if self.to_date else None,
            months_back=self.months_back,
            max_messages=self.max_messages,
        )


def _check_window(mode: SyncMode, from_date: date | None, to_date: date | None) -> None:
    """A usage error for a window the flow would refuse (and would refuse only after Prefect started)."""
    if mode is SyncMode.range and not (from_date and to_date):
        raise typer.BadParameter("range needs both --from-date and --to-date", param_hint="'--mode'")
    if from_date and to_date and from_date > to_date:
        raise typer.BadParameter(f"{from_date} is after --to-date {to_date}", param_hint="'--from-date'")


def sync(
    business: BusinessOpt,
    mode: Annotated[SyncMode, typer.Option(help="New mail, the last months, or a date range.")] = SyncMode.incremental,
    from_date: Annotated[
        datetime | None, typer.Option("--from-date", formats=DAY, metavar="YYYY-MM-DD", help="First day (range).")
    ] = None,
    to_date: Annotated[
        datetime | None, typer.Option("--to-date", formats=DAY, metavar="YYYY-MM-DD", help="Last day (range).")
    ] = None,
    months_back: Annotated[int, typer.Option(min=1, max=240, help="How far back a full sync reaches.")] = 36,
    max_messages: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages.")] = None,
    deployment: Annotated[bool, typer.Option("--deployment", help="Run through the Prefect deployment.")] = False,
) -> None:
    """Run a sync now: in this process, or queued on the deployment's work pool with --deployment."""
    start, end = (from_date.date() if from_date else None), (to_date.date() if to_date else None)
    _check_window(mode, start, end)
    options = SyncOptions(mode.value, start, end, months_back, max_messages)
    if deployment:
        print_json(_request_through_deployment(business, options))
        return
    with session() as db:  # refuse before Prefect starts, with the one line that says what to do
        require_business(db, business)
        deferred.require_mailbox(db, business)
    summary = run_with_progress(
        business, f"syncing business {business}", lambda: sync_in_process(business, **asdict(options))
    )
    print_json(summary)


def _request_through_deployment(business_id: int, options: SyncOptions) -> JsonObject:
    """Queue the sync on the deployment's work pool; refused (nothing left queued) when a run is active or
    Prefect cannot take it."""
    with session() as db:
        require_business(db, business_id)
        run = deferred.request_sync(db, get_settings(), business_id, options.parameters())
        return {"sync_run_id": run.id, "flow_run_id": run.flow_run_id, "status": run.status}


def demo(
    messages: Annotated[int, typer.Option(min=1, help="How many sample messages to generate.")] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the sample mailbox.")] = 7,
) -> None:
    """The main job on the embedded default: generate a sample mailbox, sync it, print what was found."""
    business_id, mbox_path, truth = deferred.prepare_demo(messages, seed)
    console.print(f"sample mailbox: {mbox_path} ({messages} messages); business {business_id}")
    summary = run_with_progress(
        business_id, "syncing the sample mailbox", lambda: sync_in_process(business_id, mode="full")
    )
    _print_demo(summary, deferred.score_demo(business_id, truth))


def _print_demo(summary: JsonObject, score: DemoScore) -> None:
    """`summary`: the flow run's result (tasks/runs.py `SyncSummary.as_dict`)."""
    table = Table("vendor", "total", "currency", "date", "document number", title="Receipts found (first 15)")
    for row in score.sample:
        table.add_row(*(str(v) if v is not None else "—" for v in row))
    out.print(table)
    out.print(
        f"scanned {summary['messages_scanned']} messages in {summary['duration_seconds']} s: "
        f"{summary['receipts_saved']} receipts saved, {summary['errors']} unreadable messages.\n"
        f"against the generator's truth: {score.found} of {score.expected} receipts found, "
        f"{score.missed} missed, {score.false} false; exact totals {score.exact_totals}; "
        f"{score.malformed_kept} readable parts of malformed messages kept."
    )


def register(app: typer.Typer) -> None:
    app.command()(sync)
    app.command()(demo)
