"""`receipts business …`: create a business (prints its id) and list them with their mailboxes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from cli.common import out, print_json, session, shown
from models.queries.businesses import create_business, list_businesses
from services.sweep import sweep_state, switch_sweep

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


@app.command("sweep")
def business_sweep(
    business_id: Annotated[int, typer.Option("--business", help="The business id.")],
    enabled: Annotated[
        bool | None,
        typer.Option("--on/--off", help="Switch the sweep on or off (default: only show it).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """The sweep: after the receipt query's messages, syncs read the rest of the mailbox (--off: only what the
    query lists is ever read, fewer Gmail units)."""
    with session() as db:
        state = switch_sweep(db, business_id, enabled) if enabled is not None else sweep_state(db, business_id)
        db.commit()
    if as_json:
        print_json(state.as_dict())
        return
    walked = f"{state.messages_listed} of {shown(state.messages_estimated)}"
    walk = f", {walked} messages walked" if state.window_before else ""
    out.print(
        f"sweep {'on' if state.enabled else 'off'} for business {state.business_id}: {state.state}{walk}, "
        f"{state.deferred_messages} new messages waiting, last walk finished {shown(state.completed_at)}"
    )
