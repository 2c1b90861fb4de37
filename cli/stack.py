"""Running the stack: `migrate`, `up` (local all-in-one), `deploy` (register on PREFECT_API_URL), `doctor`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from cli import deferred
from cli.common import console, out
from models.db import migrate as run_migrations
from receipt_sync.settings import get_settings

PIPED_WIDTH = 1000


def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    run_migrations()
    url = make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
    console.print(f"database migrated: {url}")


def up(
    api_port: Annotated[int, typer.Option("--api-port", min=1, max=65535, help="Port of the API.")] = 8000,
    prefect_port: Annotated[
        int, typer.Option("--prefect-port", min=1, max=65535, help="Port of the Prefect server and UI.")
    ] = 4200,
) -> None:
    """Local all-in-one: Prefect server + UI, the deployments, a worker and the API; Ctrl-C stops all of it."""
    raise typer.Exit(deferred.up(api_port, prefect_port, get_settings(), say=typer.echo))


def deploy() -> None:
    """Register the work pool, deployments (prefect.yaml), automations and concurrency limits on PREFECT_API_URL."""
    for line in deferred.deploy(get_settings()):
        typer.echo(line)


def doctor() -> None:
    """Check database, Prefect, deployments, workers, limits and storage; say what to do about each failure."""
    table, healthy = deferred.doctor()
    # At a terminal the table fits its width; piped (a script, grep), every row stays on one line.
    Console(width=None if out.is_terminal else PIPED_WIDTH).print(table)
    if not healthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (migrate, up, deploy, doctor):
        app.command()(command)
