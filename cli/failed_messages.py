"""`receipts errors` and `receipts reprocess`: failed messages with their reasons, and fetching them again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import BusinessOpt, out, print_json, require_business, session
from cli.errors import CliError
from cli.progress import run_with_progress, sync_in_process
from models.queries.sync_runs import get_sync_run
from receipt_sync.settings import get_settings
from services.message_errors import (
    business_failed_messages,
    reprocess_parameters,
    request_reprocess,
    run_message_errors,
)
from services.sync_requests import require_mailbox


def errors(
    business: Annotated[int | None, typer.Option("--business", min=1, help="A business's failed messages.")] = None,
    run: Annotated[int | None, typer.Option("--run", min=1, help="The messages that failed in one sync run.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many to show (newest first).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List failed messages with their reasons: a business's (--business) or one run's (--run)."""
    if (business is None) == (run is None):
        raise CliError("give either --business N or --run N", "see: receipts errors --help")
    rows: Sequence[Mapping[str, Any]]
    with session() as db:
        if run is not None:
            rows = run_message_errors(get_sync_run(db, run))[:limit]
        else:
            require_business(db, business)  # type: ignore[arg-type]
            rows = [asdict(r) for r in business_failed_messages(db, business, before_id=None, limit=limit)]
    if as_json:
        print_json(rows)
        return
    table = Table("message id", "kind", "reason", title=f"{len(rows)} failed message(s)")
    for row in rows:
        table.add_row(row["message_id"], row["kind"], row["error"])
    out.print(table)


def reprocess(
    business: BusinessOpt,
    months_back: Annotated[int, typer.Option(min=1, max=240, help="How far back the pass reaches.")] = 36,
    deployment: Annotated[bool, typer.Option("--deployment", help="Run through the Prefect deployment.")] = False,
) -> None:
    """Fetch and analyse again the business's failed messages (e.g. after raising a limit or an extractor fix)."""
    with session() as db:
        require_business(db, business)
        if deployment:
            queued = request_reprocess(db, get_settings(), business_id=business, months_back=months_back, trigger="cli")
            print_json({"sync_run_id": queued.id, "flow_run_id": queued.flow_run_id, "status": queued.status})
            return
        require_mailbox(db, business)
    params = reprocess_parameters(months_back)
    print_json(
        run_with_progress(business, f"reprocessing business {business}", lambda: sync_in_process(business, **params))
    )


def register(app: typer.Typer) -> None:
    app.command("errors")(errors)
    app.command("reprocess")(reprocess)
