"""Every failure of a command becomes one line on stderr that says what to do, and a non-zero exit status.

Usage errors (a bad option value, a missing option) exit with 2 as click's do; everything else exits with 1.
A traceback is shown only with `receipts --debug …` (or RECEIPTS_DEBUG=1), for a bug report.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, cast

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from receipt_sync.errors import (
    ConfigurationError,
    MailboxAuthError,
    MailboxNotConnected,
    NotFoundError,
    OrchestratorUnavailable,
    ReceiptSyncError,
    SyncAlreadyRunning,
)
from receipt_sync.settings import get_settings

if TYPE_CHECKING:
    from click.exceptions import UsageError as ClickUsageError

USAGE_EXIT, FAILURE_EXIT = 2, 1
# Typer vendors its own click (typer._click since 0.2x, plain click before): take the exception classes from
# the module that defines the one typer exports, so `isinstance` matches what its parser raises.
_click_exceptions = sys.modules[typer.BadParameter.__module__]
UsageError: type[Exception] = _click_exceptions.UsageError
NoArgsIsHelpError: type[Exception] = _click_exceptions.NoArgsIsHelpError


class CliError(Exception):
    """A refusal decided by a command: what is wrong and what to do about it."""

    def __init__(self, problem: str, action: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.action = problem, action


class DebugFlag:
    """Set by the `--debug` option; read when a command fails."""

    enabled = False


def _one_line(*parts: str | None) -> str:
    return "; ".join(" ".join(p.split()).rstrip(".") for p in parts if p)


def _database_url() -> str:
    try:
        return make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
    except Exception:  # the settings themselves may be what is broken
        return "DATABASE_URL"


def _domain_action(exc: ReceiptSyncError) -> str | None:
    """What the operator can do about a domain error the services raised without saying so."""
    if isinstance(exc, OrchestratorUnavailable):
        return exc.action
    if isinstance(exc, SyncAlreadyRunning):
        run = f"run {exc.run_id}" if exc.run_id else "it"
        return f"wait for {run} to finish (see: receipts runs) or cancel it in the Prefect UI"
    if isinstance(exc, MailboxNotConnected) and "receipts " not in str(exc):
        return "connect one: receipts connect-gmail --business ID, or receipts import-mbox FILE --business ID"
    if isinstance(exc, MailboxAuthError):
        return "reconnect it: receipts connect-gmail --business ID"
    if isinstance(exc, NotFoundError) and str(exc).startswith("business "):
        return "see the businesses with: receipts business list"
    if isinstance(exc, NotFoundError) and str(exc).startswith("token "):
        return "see the tokens with: receipts token list"
    if isinstance(exc, ConfigurationError):
        return "fix it in the environment or .env (see .env.example)"
    return None


def describe(exc: BaseException) -> str:
    """The one line shown for `exc`."""
    if isinstance(exc, UsageError):
        usage = cast("ClickUsageError", exc)  # typer's vendored click has click's interface
        message = usage.format_message().replace("Value error, ", "")  # typer's pydantic-style prefix says nothing
        return _one_line(message, f"see: {usage.ctx.command_path if usage.ctx else 'receipts'} --help")
    if isinstance(exc, CliError):
        return _one_line(exc.problem, exc.action)
    if isinstance(exc, ReceiptSyncError):
        return _one_line(str(exc), _domain_action(exc))
    if isinstance(exc, DBAPIError) and _is_connection_error(exc):
        why = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return _one_line(
            f"cannot reach the database {_database_url()} ({why})",
            "check DATABASE_URL and that the database server is running",
        )
    if isinstance(exc, SQLAlchemyError):
        return _one_line(
            f"database error ({type(exc).__name__})",
            "check that the schema is current (receipts migrate); rerun with --debug for details",
        )
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return _one_line(f"unexpected {type(exc).__name__}: {exc}", "rerun with --debug and report the traceback")


def _is_connection_error(exc: DBAPIError) -> bool:
    """psycopg2/sqlite errors raised while connecting (server down, refused, bad host), not by a statement."""
    return exc.statement is None or "connect" in str(exc.orig).lower() or "unable to open" in str(exc.orig).lower()


def exit_code(exc: BaseException) -> int:
    return USAGE_EXIT if isinstance(exc, UsageError) else FAILURE_EXIT


def report(exc: BaseException) -> None:
    """Print the one line (and, with --debug, the traceback above it) to stderr."""
    if DebugFlag.enabled or os.environ.get("RECEIPTS_DEBUG") == "1":
        traceback.print_exception(exc, file=sys.stderr)
    prefix = typer.style("error:", fg="red", bold=True) if sys.stderr.isatty() else "error:"
    typer.echo(f"{prefix} {describe(exc)}", err=True)
