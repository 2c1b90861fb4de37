"""The `receipts` command: its sub-commands by area, and the one place a failure becomes one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cli import business, failed_messages, mail, runs, stack, sync, tokens
from cli.errors import DebugFlag, NoArgsIsHelpError, exit_code, report


class OneLineErrors(TyperGroup):
    """Runs a command in click's non-standalone mode so that every error reaches `report` (never a traceback)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        DebugFlag.enabled = False  # (prog_name is ignored: errors and help name the installed `receipts` script)
        try:
            result = super().main(args, "receipts", complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:  # typer has already printed the help
            result = exc.exit_code  # type: ignore[attr-defined]
        except (Exception, KeyboardInterrupt) as exc:
            report(exc)
            result = exit_code(exc)
        code = result if isinstance(result, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=OneLineErrors,
    help="Receipt Sync: find receipts and invoices in business mailboxes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure (for a bug report).")] = False,
) -> None:
    """Receipt Sync: find receipts and invoices in business mailboxes."""
    DebugFlag.enabled = debug


app.add_typer(business.app, name="business")
app.add_typer(tokens.app, name="token")
for area in (mail, sync, runs, failed_messages, stack, tokens):
    area.register(app)


def main() -> None:
    """Entry point of the `receipts` script."""
    app()
