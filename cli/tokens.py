"""`receipts token …`: API tokens. A token is printed once (stdout, alone, for scripts) and stored only hashed."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, out, require_business, session
from models.queries.tokens import create_api_token

app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)

SAVE_IT_NOW = "Save this token now: it is shown only once and cannot be recovered (only its hash is stored)."


@app.command("create")
def token_create(
    business: Annotated[int | None, typer.Option("--business", min=1, help="The business the token acts for.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An operator token (system_admin).")] = False,
) -> None:
    """Create an API token; it is printed once and stored only hashed."""
    if business is None and not admin:
        raise typer.BadParameter("a member token needs --business ID (or --admin for an operator token)")
    with session() as db:
        if business is not None:
            require_business(db, business)
        token = create_api_token(db, business, "system_admin" if admin else "member")
    out.print(token)
    console.print(SAVE_IT_NOW)
