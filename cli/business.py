"""`receipts business …`: create a business (prints its id) and list them with their mailboxes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from cli.common import out, print_json, session, shown
from models.queries.businesses import create_business, list_businesses

app = typer.Typer(help="Manage businesses.", no_args_is_help=True)


@app.command("create")
def business_create(name: Annotated[str, typer.Option("--name", help="The business's name.")]) -> None:
    """Create a business and print its id."""
    with session() as db:
        business_id = create_business(db, name).id
    out.print(business_id)


@app.command("list")
def business_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of a table.")] = False,
) -> None:
    """The businesses with their mailbox, its status, the last sync and how many receipts they hold."""
    with session() as db:
        listings = list_businesses(db)
    if as_json:
        print_json([asdict(listing) for listing in listings])
        return
    if not listings:
        out.print("no business yet: create one with receipts business create --name NAME")
        return
    table = Table("id", "name", "mailbox", "status", "last synced", "receipts", title="Businesses")
    for b in listings:
        table.add_row(str(b.id), b.name, shown(b.mailbox), shown(b.mailbox_status), shown(b.last_synced_at),
                      str(b.receipts))  # fmt: skip
    out.print(table)
