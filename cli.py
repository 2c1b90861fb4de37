"""The `receipts` command line: thin commands over the flows, queries and domain package (SPEC §8)."""

from __future__ import annotations

import csv
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded default's local Prefect gets 20 s to start by default: too short on a busy two-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from receipt_sync.errors import ReceiptSyncError

app = typer.Typer(help="Receipt Sync: find receipts and invoices in business mailboxes.", no_args_is_help=True)
business_app = typer.Typer(help="Manage businesses.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(business_app, name="business")
app.add_typer(token_app, name="token")
console = Console(stderr=True)
out = Console()

BusinessOpt = Annotated[int, typer.Option("--business", help="The business id.")]


def main() -> None:
    """Entry point: domain errors become one readable line and exit status 1, never a traceback."""
    try:
        app()
    except ReceiptSyncError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)


def _print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or styled for a terminal."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@contextmanager
def _session() -> Iterator[Any]:
    from models.db import session_scope

    with session_scope() as session:
        yield session


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from models.db import migrate as run_migrations
    from receipt_sync.settings import get_settings

    run_migrations()
    console.print(f"database migrated: {_safe_url(get_settings().resolved_database_url)}")


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@business_app.command("create")
def business_create(name: Annotated[str, typer.Option("--name", help="The business's name.")]) -> None:
    """Create a business and print its id."""
    from models.queries.businesses import create_business

    with _session() as session:
        business_id = create_business(session, name).id
    out.print(business_id)


@token_app.command("create")
def token_create(
    business: Annotated[int | None, typer.Option("--business", help="The business the token acts for.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An operator token (system_admin).")] = False,
    days: Annotated[int, typer.Option("--days", help="Days until it expires.")] = 90,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="A token that never expires.")] = False,
) -> None:
    """Create an API token; it is printed once and stored only hashed. It expires after --days (90)."""
    from models.queries.tokens import create_api_token

    with _session() as session:
        token = create_api_token(
            session, business, "system_admin" if admin else "member", days=None if no_expiry else days
        )
    out.print(token)


@token_app.command("list")
def token_list(
    business: Annotated[int | None, typer.Option("--business", help="Only this business's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API tokens (id, prefix, role, business, expiry, state); secrets are never shown."""
    from models.queries.tokens import list_tokens, token_summary

    with _session() as session:
        rows = [token_summary(t) for t in list_tokens(session, business)]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "prefix", "role", "business", "created", "expires", "state")
    for r in rows:
        expires = str(r["expires_at"])[:16] if r["expires_at"] else "never"
        table.add_row(str(r["id"]), str(r["prefix"]), str(r["role"]), str(r["business_id"] or "-"),
                      str(r["created_at"])[:16], expires, str(r["state"]))  # fmt: skip
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (from `receipts token list`).")]) -> None:
    """Revoke an API token at once: its next request is a 401."""
    from models.queries.tokens import revoke_token

    with _session() as session:
        token = revoke_token(session, token_id)
        prefix = token.prefix
    console.print(f"revoked token {token_id} ({prefix}…)")


@app.command("connect-gmail")
def connect_gmail(
    business: BusinessOpt,
    refresh_token: Annotated[
        str | None,
        typer.Option(
            "--refresh-token",
            envvar="GMAIL_REFRESH_TOKEN",
            help="A token obtained elsewhere (prefer --refresh-token-file: a command line ends up in shell history).",
        ),
    ] = None,
    refresh_token_file: Annotated[
        str | None,
        typer.Option("--refresh-token-file", help="Read the refresh token from this file, or from stdin with '-'."),
    ] = None,
    address: Annotated[str | None, typer.Option("--address", help="The mailbox address.")] = None,
) -> None:
    """Connect a Gmail mailbox: installed-app OAuth in a browser, or a refresh token; stored encrypted."""
    from services.gmail_connect import connect_gmail_mailbox

    if refresh_token_file is not None:
        refresh_token = _read_secret(refresh_token_file)
    mailbox_id, mailbox_address = connect_gmail_mailbox(business, refresh_token, address)
    console.print(f"connected {mailbox_address} to business {business} (mailbox {mailbox_id})")


def _read_secret(source: str) -> str:
    """The first line of a file, or of stdin for '-': a secret that never appears in argv or shell history."""
    from receipt_sync.errors import InvalidRequest

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise InvalidRequest(f"cannot read the refresh token from {source}: {exc.strerror}") from None
    secret = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise InvalidRequest(f"no refresh token in {'stdin' if source == '-' else source}")
    return secret


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored refresh token under the newest ENCRYPTION_KEY (the first), so older keys can go."""
    from services.key_rotation import rotate_refresh_tokens

    report = rotate_refresh_tokens()
    console.print(f"re-encrypted {report.rotated} refresh token(s) under the newest key")
    if report.undecryptable:
        ids = ", ".join(map(str, report.undecryptable))
        console.print(
            f"[red]error:[/red] no ENCRYPTION_KEY decrypts the token of mailbox(es) {ids}: keep their old key "
            "in ENCRYPTION_KEY and run again, or reconnect them (receipts connect-gmail)"
        )
        raise typer.Exit(1)
    console.print("older keys can now be removed from ENCRYPTION_KEY")


def _run_with_progress(business_id: int, label: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a flow in this process while a progress bar follows its sync run record."""
    done = threading.Event()
    result: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console, transient=False,
    ) as progress:  # fmt: skip
        bar = progress.add_task(label, total=100, detail="starting")
        watcher = threading.Thread(target=_watch_run, args=(business_id, progress, bar, done), daemon=True)
        watcher.start()
        try:
            result = run()
        finally:
            done.set()
            watcher.join(timeout=2)
        progress.update(bar, completed=100, detail=_detail(result))
    return result


def _detail(run: dict[str, Any]) -> str:
    return (
        f"{run.get('messages_scanned', 0)} scanned, {run.get('receipts_saved', 0)} saved, "
        f"{run.get('duplicates_skipped', 0)} skipped, {run.get('errors', run.get('errors_count', 0))} errors"
    )


def _watch_run(business_id: int, progress: Progress, bar: Any, done: threading.Event) -> None:
    from models.queries.sync_runs import latest_sync_run

    while not done.wait(0.5):
        try:
            with _session() as session:
                run = latest_sync_run(session, business_id)
                if run is not None and run.status == "running":
                    progress.update(bar, completed=run.percent, detail=_detail(run.__dict__))
        except Exception:  # the bar is a courtesy; the flow's own result is what counts
            continue


def _sync_in_process(business_id: int, **params: Any) -> dict[str, Any]:
    from prefect import tags

    from flows.gmail_sync import gmail_sync

    with tags(f"business:{business_id}", "gmail-sync"):
        return gmail_sync(business_id=business_id, **params)


@app.command("import-mbox")
def import_mbox(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A Google Takeout .mbox file.")],
    business: BusinessOpt,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many messages.")] = None,
) -> None:
    """Sync a Google Takeout .mbox through the same flow as Gmail."""
    from models.queries.mailboxes import connect_mailbox

    with _session() as session:
        connect_mailbox(session, business_id=business, provider="mbox", address=str(file.resolve()))
    summary = _run_with_progress(
        business, f"importing {file.name}", lambda: _sync_in_process(business, mode="full", max_messages=max_messages)
    )
    _print_json(summary)


@app.command()
def sync(
    business: BusinessOpt,
    mode: Annotated[str, typer.Option(help="incremental | full | range")] = "incremental",
    from_date: Annotated[str | None, typer.Option("--from-date", help="YYYY-MM-DD (range)")] = None,
    to_date: Annotated[str | None, typer.Option("--to-date", help="YYYY-MM-DD (range)")] = None,
    months_back: Annotated[int, typer.Option(help="How far back a full sync reaches.")] = 36,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many messages.")] = None,
    deployment: Annotated[bool, typer.Option("--deployment", help="Run through the Prefect deployment.")] = False,
) -> None:
    """Run a sync now: in this process, or queued on the deployment's work pool with --deployment."""
    params = {
        "mode": mode,
        "from_date": date.fromisoformat(from_date) if from_date else None,
        "to_date": date.fromisoformat(to_date) if to_date else None,
        "months_back": months_back,
        "max_messages": max_messages,
    }
    if deployment:
        _request_through_deployment(business, params)
        return
    with _session() as session:  # refuse before starting a flow, with the one line that says what to do
        from models.queries.mailboxes import mailbox_for_business

        mailbox_for_business(session, business)
    summary = _run_with_progress(business, f"syncing business {business}", lambda: _sync_in_process(business, **params))
    _print_json(summary)


def _request_through_deployment(business_id: int, params: dict[str, Any]) -> None:
    """Queue the sync on the deployment's work pool, refused (and nothing left queued) when no worker listens."""
    from receipt_sync.settings import get_settings
    from services.sync_requests import request_sync

    flow_params = {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}
    with _session() as session:
        run = request_sync(session, get_settings(), business_id=business_id, parameters=flow_params, trigger="cli")
        queued = {"sync_run_id": run.id, "flow_run_id": run.flow_run_id, "status": run.status}
    _print_json(queued)


@app.command()
def extract(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="An email, PDF, HTML page or text invoice.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (a stable contract).")] = False,
) -> None:
    """Show whether one email or document is a receipt (its kind judged by content), the fields found, and why."""
    from receipt_sync.extract import extract_file

    result = extract_file(file).to_json()
    if as_json:
        _print_json(result)
        return
    table = Table(show_header=False)
    for key in ("is_receipt", "confidence", "vendor", "total", "currency", "date", "document_number"):
        table.add_row(key, "—" if result[key] is None else str(result[key]))
    out.print(table)
    for reason in result["reasons"]:
        out.print(f"  • {reason}")
    listing = _gmail_listing(file)
    if listing:
        out.print(listing)


def _gmail_listing(file: Path) -> str | None:
    """For an email: whether a full sync's Gmail search would list it (a message it leaves out is never read)."""
    from receipt_sync.errors import ConfigurationError, MalformedMessageError
    from receipt_sync.mail.receipt_query import RECEIPT_QUERY
    from receipt_sync.mail.search import listed_by
    from receipt_sync.mime import parse_email
    from receipt_sync.settings import get_settings

    data = file.read_bytes()
    if file.suffix.lower() == ".pdf" or data.startswith(b"%PDF"):
        return None
    try:
        parsed = parse_email(data)
    except MalformedMessageError:
        return None
    try:
        query = get_settings().gmail_receipt_query
    except ConfigurationError:  # extracting one file needs no other setting to be right
        query = RECEIPT_QUERY
    if not query.strip():
        return "Gmail listing: GMAIL_RECEIPT_QUERY is empty, so syncs list every message."
    if listed_by(query, parsed):
        return "Gmail listing: a full sync's search (GMAIL_RECEIPT_QUERY) lists this email."
    return (
        "Gmail listing: a full sync's search (GMAIL_RECEIPT_QUERY) would NOT list this email, so a full sync never "
        "reads it — it names no receipt, invoice, payment, order or booking and has no attachment. "
        'Set GMAIL_RECEIPT_QUERY="" to list every message.'
    )


EXPORT_FIELDS = (
    "id", "source_message_id", "received_at", "subject", "sender", "status", "is_receipt", "confidence",
    "vendor", "total", "currency", "date", "document_number", "reasons",
)  # fmt: skip


@app.command()
def export(
    business: BusinessOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
    since: Annotated[str | None, typer.Option(help="Only receipts dated on or after YYYY-MM-DD.")] = None,
) -> None:
    """Print the business's receipts for an accountant or a spreadsheet."""
    from models.queries.export import export_rows

    if fmt not in ("csv", "json"):
        raise typer.BadParameter("--format must be csv or json")
    with _session() as session:
        rows = export_rows(session, business, date.fromisoformat(since) if since else None)
    if fmt == "json":
        _print_json(rows)
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "reasons": "; ".join(row["reasons"] or [])})


@app.command()
def demo(
    messages: Annotated[int, typer.Option(help="How many sample messages to generate.")] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the sample mailbox.")] = 7,
) -> None:
    """The main job on the embedded default: generate a sample mailbox, sync it, print what was found."""
    from services.demo import prepare_demo, score_demo

    business_id, mbox_path, truth = prepare_demo(messages, seed)
    console.print(f"sample mailbox: {mbox_path} ({messages} messages); business {business_id}")
    summary = _run_with_progress(
        business_id, "syncing the sample mailbox", lambda: _sync_in_process(business_id, mode="full")
    )
    score = score_demo(business_id, truth)
    _print_demo(summary, score)


def _print_demo(summary: dict[str, Any], score: dict[str, Any]) -> None:
    table = Table(title="Receipts found (first 15)")
    for column in ("vendor", "total", "currency", "date", "document number"):
        table.add_column(column)
    for row in score["sample"]:
        table.add_row(*(str(v) if v is not None else "—" for v in row))
    out.print(table)
    out.print(
        f"scanned {summary['messages_scanned']} messages in {summary['duration_seconds']} s: "
        f"{summary['receipts_saved']} receipts saved, {summary['errors']} unreadable messages.\n"
        f"against the generator's truth: {score['found']} of {score['expected']} receipts found, "
        f"{score['missed']} missed, {score['false']} false; exact totals {score['exact_totals']}; "
        f"{score['malformed_kept']} readable parts of malformed messages kept."
    )


@app.command()
def up(
    api_port: Annotated[int, typer.Option("--api-port", help="Port of the API.")] = 8000,
    prefect_port: Annotated[int, typer.Option("--prefect-port", help="Port of the Prefect server and UI.")] = 4200,
) -> None:
    """Local all-in-one: Prefect server + UI, the deployments, a worker and the API; Ctrl-C stops all of it."""
    from deployments.up import UpConfig, run_up
    from receipt_sync.settings import get_settings

    config = UpConfig(api_port=api_port, prefect_port=prefect_port, data_dir=get_settings().data_dir.resolve())
    raise typer.Exit(run_up(config, say=typer.echo))


@app.command()
def deploy() -> None:
    """Register the work pool, deployments (prefect.yaml), automations and concurrency limits on PREFECT_API_URL."""
    from deployments.deploy import deploy_all
    from receipt_sync.settings import get_settings

    settings = get_settings()
    report = deploy_all(settings, interval_minutes=settings.incremental_sync_interval_minutes)
    for line in [*report.deployments, *report.automations, *report.limits, *report.notes]:
        typer.echo(line)


@app.command()
def doctor() -> None:
    """Check database, Prefect, deployments, workers, limits and storage; say what to do about each failure."""
    from deployments.doctor import healthy, render, run_checks

    results = run_checks()
    for line in render(results):
        typer.echo(line)
    if not healthy(results):
        raise typer.Exit(1)


if __name__ == "__main__":
    main()
