"""The `receipts` command line (SPEC §8), one module per area; `main` is the console-script entry point.

Prefect reads its settings when it is first imported, so the two defaults below are set before any module of
this package (and through it, Prefect) is imported.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded default's local Prefect gets 20 s to start by default: too short on a busy two-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from cli.app import app, main

__all__ = ["app", "main"]
