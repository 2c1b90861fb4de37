"""`receipts token …` and `receipts rotate-key`: the secrets an operator handles.

An API token is printed once (stdout, alone, for scripts) and stored only hashed; `token list` shows prefixes,
never secrets. `rotate-key` re-encrypts the stored mailbox refresh tokens under the newest ENCRYPTION_KEY.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import console, out, print_json, require_business, session, shown
from cli.errors import CliError
from models.queries.tokens import create_api_token, list_tokens, revoke_token, token_summary
from services.key_rotation import rotate_refresh_tokens

app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)

SAVE_IT_NOW = "Save this token now: it is shown only once and cannot be recovered (only its hash is stored)."


@app.command("create")
def token_create(
    business: Annotated[int | None, typer.Option("--business", min=1, help="The business the token acts for.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An operator token (system_admin).")] = False,
    days: Annotated[int, typer.Option("--days", min=1, help="Days until it expires.")] = 90,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="A token that never expires.")] = False,
) -> None:
    """Create an API token; it is printed once and stored only hashed. It expires after --days (90)."""
    if business is None and not admin:
        raise typer.BadParameter("a member token needs --business ID (or --admin for an operator token)")
    with session() as db:
        if business is not None:
            require_business(db, business)
        role = "system_admin" if admin else "member"
        token = create_api_token(db, business, role, days=None if no_expiry else days)
    out.print(token)
    console.print(SAVE_IT_NOW)


@app.command("list")
def token_list(
    business: Annotated[int | None, typer.Option("--business", min=1, help="Only this business's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API tokens (id, prefix, role, business, expiry, state); secrets are never shown."""
    with session() as db:
        if business is not None:
            require_business(db, business)
        rows = [token_summary(t) for t in list_tokens(db, business)]
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    table = Table("id", "prefix", "role", "business", "created", "expires", "state", title="API tokens")
    for r in rows:
        expires = shown(r.expires_at) if r.expires_at else "never"
        table.add_row(str(r.id), f"{r.prefix}…", r.role, shown(r.business_id), shown(r.created_at), expires, r.state)
    out.print(table)


@app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(min=1, help="The token's id (from `receipts token list`).")],
) -> None:
    """Revoke an API token at once: its next request is a 401."""
    with session() as db:
        prefix = revoke_token(db, token_id).prefix
    console.print(f"revoked token {token_id} ({prefix}…)")


def rotate_key() -> None:
    """Re-encrypt every stored refresh token under the newest ENCRYPTION_KEY (the first), so older keys can go."""
    report = rotate_refresh_tokens()
    console.print(f"re-encrypted {report.rotated} refresh token(s) under the newest key")
    if report.undecryptable:
        raise CliError(
            f"no ENCRYPTION_KEY decrypts the token of mailbox(es) {', '.join(map(str, report.undecryptable))}",
            "keep their old key in ENCRYPTION_KEY and run again, or reconnect them (receipts connect-gmail)",
        )
    console.print("older keys can now be removed from ENCRYPTION_KEY")


def register(app: typer.Typer) -> None:
    app.command("rotate-key")(rotate_key)
