"""What every area of the command shares: the consoles, JSON output, a database session, typed options."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from cli.errors import CliError
from models.db import session_factory
from models.queries.businesses import get_business
from receipt_sync.errors import NotFoundError

console = Console(stderr=True, soft_wrap=True)  # messages for the person at the terminal
out = Console(soft_wrap=True)  # the command's result

DAY = ["%Y-%m-%d"]  # the one date format options accept (click refuses anything else with a usage error)
BusinessOpt = Annotated[int, typer.Option("--business", min=1, help="The business id (see: receipts business list).")]


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or styled for a terminal."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@contextmanager
def session() -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back when it raises.

    A plain session rather than `sessionmaker.begin()`: the services commit or roll back themselves when a
    trigger succeeds or is refused, which a `begin()` block would answer with InvalidRequestError.
    """
    db = session_factory()()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def require_business(db: Session, business_id: int) -> str:
    """The business's name; a one-line refusal naming the way to find the right id when there is none."""
    try:
        return get_business(db, business_id).name
    except NotFoundError:
        raise CliError(
            f"business {business_id} does not exist",
            "list them with: receipts business list (or create one: receipts business create --name NAME)",
        ) from None


def shown(value: object) -> str:
    """A table cell: '—' for nothing, times to the minute in UTC."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)
