"""Mail in and receipts out: connect a Gmail mailbox, import a Takeout .mbox, explain one file, export receipts."""

from __future__ import annotations

import csv
import sys
from dataclasses import asdict, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import deferred
from cli.common import DAY, BusinessOpt, console, out, print_json, require_business, session
from cli.errors import CliError
from cli.progress import run_with_progress, sync_in_process
from models.queries.export import ExportRow, export_rows
from models.queries.mailboxes import connect_mailbox
from receipt_sync.errors import ConfigurationError, MalformedMessageError
from receipt_sync.extract import extract_file
from receipt_sync.extract.core import UNREAD
from receipt_sync.mail.receipt_query import RECEIPT_QUERY
from receipt_sync.mail.search import listed_by
from receipt_sync.mime import parse_email
from receipt_sync.settings import get_settings

EXPORT_FIELDS = [f.name for f in fields(ExportRow)]


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
    if refresh_token_file is not None:
        refresh_token = read_secret(refresh_token_file)
    with session() as db:
        require_business(db, business)
    mailbox_id, mailbox_address = deferred.connect_gmail_mailbox(business, refresh_token, address)
    console.print(f"connected {mailbox_address} to business {business} (mailbox {mailbox_id})")


def read_secret(source: str) -> str:
    """The first line of a file, or of stdin for '-': a secret that never appears in argv or shell history."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise CliError(f"cannot read the refresh token from {source}: {exc.strerror}", "check the path") from None
    secret = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise CliError(f"no refresh token in {'stdin' if source == '-' else source}", "put the token on its first line")
    return secret


def import_mbox(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            readable=True,
            help="A Takeout .mbox file, or a folder or file of emails, PDFs, HTML pages and text invoices.",
        ),
    ],
    business: BusinessOpt,
    max_messages: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages.")] = None,
) -> None:
    """Sync a Google Takeout .mbox, or a folder of documents (judged by content), through the same flow as Gmail."""
    with session() as db:
        require_business(db, business)
        connect_mailbox(db, business_id=business, provider="mbox", address=str(file.resolve()))
    summary = run_with_progress(
        business, f"importing {file.name}", lambda: sync_in_process(business, mode="full", max_messages=max_messages)
    )
    print_json(summary)


def extract(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="An email, PDF, HTML page or text invoice."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (a stable contract).")] = False,
) -> None:
    """Show whether one email or document is a receipt (its kind judged by content), the fields found, and why."""
    extraction = extract_file(file)
    if extraction.score == UNREAD:  # nothing was read: say why instead of "not a receipt"
        what = "give a PDF, an email (.eml), an HTML page or a text invoice"
        raise CliError(f"{file.name}: {extraction.reasons[0]}", what)
    result = extraction.to_json()
    if as_json:
        print_json(result)
        return
    table = Table(show_header=False)
    for key in ("is_receipt", "confidence", "vendor", "total", "currency", "date", "document_number"):
        table.add_row(key, "—" if result[key] is None else str(result[key]))
    out.print(table)
    for reason in extraction.reasons:
        out.print(f"  • {reason}")
    listing = gmail_listing(file)
    if listing:
        out.print(listing)


def gmail_listing(file: Path) -> str | None:
    """For an email: whether a full sync's Gmail search would list it (a message it leaves out is never read)."""
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


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


def export(
    business: BusinessOpt,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="A spreadsheet (csv) or an array (json).")] = (
        ExportFormat.csv
    ),
    since: Annotated[
        datetime | None, typer.Option(formats=DAY, metavar="YYYY-MM-DD", help="Only receipts dated on or after it.")
    ] = None,
) -> None:
    """Print the business's receipts for an accountant or a spreadsheet."""
    with session() as db:
        require_business(db, business)
        rows = export_rows(db, business, since.date() if since else None)
    if fmt is ExportFormat.json:
        print_json([asdict(row) for row in rows])
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**asdict(row), "reasons": "; ".join(row.reasons)})


def register(app: typer.Typer) -> None:
    app.command("connect-gmail")(connect_gmail)
    app.command("import-mbox")(import_mbox)
    app.command()(extract)
    app.command()(export)
