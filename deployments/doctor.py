"""`receipts doctor`: check a rollout the way an operator would, and say what to do about each failure.

Checks, in order: settings valid, database reachable and at the Alembic head, Prefect API reachable, the
deployments registered, an online worker on the work pool, the per-business concurrency limits, runs left
behind by dead processes (the reconciler ends them: failed in the database, Crashed in Prefect; a warning
when it found any), the alert automations (a warning when missing), object storage writable. A check that
depends on an earlier failed one is reported as skipped, not as a second failure. Any failure makes the exit
status non-zero; a warning does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text
from sqlalchemy import text

from receipt_sync.errors import ReceiptSyncError
from receipt_sync.settings import Settings, load_settings

OK, WARN, FAILED, SKIPPED = "ok", "warn", "FAILED", "skipped"
_MIGRATIONS = Path(__file__).resolve().parents[1] / "models" / "migrations"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None


class CheckFailed(Exception):
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


class CheckWarning(CheckFailed):
    """Works, but an operator would want to know: reported, yet the exit status stays 0."""


def check_database(settings: Settings) -> str:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from models.db import get_engine

    url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    try:
        with get_engine(settings.resolved_database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        raise CheckFailed(
            f"{url} unreachable ({type(exc).__name__})", "check DATABASE_URL and that the server runs"
        ) from None
    head = ScriptDirectory(str(_MIGRATIONS)).get_current_head()
    if current != head:
        raise CheckFailed(f"{url} is at migration {current}, the code needs {head}", "run: receipts migrate")
    return f"{url} reachable, at migration head {head}"


def check_prefect_api(settings: Settings) -> str:
    from services import prefect_access

    if not settings.prefect_api_url:
        raise CheckFailed("PREFECT_API_URL is not set", "set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")
    if not prefect_access.api_healthy(settings):
        raise CheckFailed(
            f"{settings.prefect_api_url} does not answer", "start the Prefect server (receipts up, or docker compose)"
        )
    return f"{settings.prefect_api_url} answers"


def check_deployments(settings: Settings) -> str:
    from prefect.exceptions import ObjectNotFound

    from deployments.deploy import DEPLOYMENTS
    from services import prefect_access

    missing = []
    with prefect_access.prefect_client(settings) as client:
        for name in DEPLOYMENTS:
            try:
                client.read_deployment_by_name(name)
            except ObjectNotFound:
                missing.append(name)
    if missing:
        raise CheckFailed(f"not registered: {', '.join(missing)}", "run: receipts deploy")
    return ", ".join(DEPLOYMENTS)


def check_worker(settings: Settings) -> str:
    from services import prefect_access

    status = prefect_access.pool_status(settings)
    try:
        prefect_access.require_worker(status)
    except ReceiptSyncError as exc:
        raise CheckFailed(str(exc), getattr(exc, "action", None) or prefect_access.worker_action(status.name)) from None
    names = ", ".join(w.name for w in status.online_workers)
    return f"pool {status.name!r} {status.status}, online: {names}"


def check_concurrency_limits(settings: Settings) -> str:
    from prefect.exceptions import ObjectNotFound

    from deployments.deploy import businesses_with_mailboxes
    from services import prefect_access
    from services.slots import business_limit_name

    wrong = []
    names = [business_limit_name("sync", b) for b in businesses_with_mailboxes()]
    with prefect_access.prefect_client(settings) as client:
        for name in names:
            try:
                limit = client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                wrong.append(f"{name} missing")
                continue
            if limit.limit != 1 or not limit.active:
                wrong.append(f"{name} has limit {limit.limit}{'' if limit.active else ' (inactive)'}")
    if wrong:
        raise CheckFailed("; ".join(wrong), "run: receipts deploy (creates one limit of 1 per business)")
    return f"{len(names)} business limit(s) of 1" if names else "no business has a mailbox yet"


def check_dead_runs(settings: Settings) -> str:
    """Run the reconciler: a run whose process is gone must not stay Running/Cancelling until someone looks."""
    from services.reconcile import reconcile_runs

    result = reconcile_runs(settings)
    if result.prefect_error:
        raise CheckFailed(result.prefect_error, "check the Prefect server, then run receipts doctor again")
    if result.failed or result.crashed_flow_runs:
        reasons = "; ".join(f"run {run.run_id}: {run.reason}" for run in result.failed[:3])
        raise CheckWarning(
            f"{result.summary()}{': ' + reasons if reasons else ''}",
            "a worker or flow process died; rerun the failed syncs (they resume from their checkpoint)",
        )
    return result.summary()


def check_alerts(settings: Settings) -> str:
    """The automations `receipts deploy` installs: without them a crashed or failed run alerts nobody."""
    from deployments.automations import MAILBOX_OVERDUE, RUN_FAILED, ZOMBIE
    from services import prefect_access

    with prefect_access.prefect_client(settings) as client:
        missing = [name for name in (ZOMBIE, RUN_FAILED, MAILBOX_OVERDUE) if not client.read_automations_by_name(name)]
    if missing:
        raise CheckWarning(
            f"not installed: {', '.join(repr(m) for m in missing)} (failed runs and overdue mailboxes alert nobody)",
            "set ALERT_WEBHOOK_URL (or create the notification block ALERT_NOTIFICATION_BLOCK), then receipts deploy",
        )
    return "zombie remedy, failed-run and overdue-mailbox alerts installed"


def check_probes(settings: Settings) -> str:
    """When the incremental round last checked each mailbox (its `getProfile` probe)."""
    from models.db import session_scope
    from services.mailbox_probe import probe_summary

    with session_scope() as session:
        return probe_summary(session)


def check_run_history(settings: Settings) -> str:
    """How much run history is stored and how much the next round prunes: reported, never deleted here."""
    from models.db import session_scope
    from services.retention import history_report

    with session_scope() as session:
        return history_report(session, settings)


def check_storage(settings: Settings) -> str:
    from receipt_sync.storage import open_storage

    key = f"doctor/{uuid.uuid4().hex}"
    try:
        storage = open_storage(settings)
        storage.put(key, b"receipts doctor", "text/plain")
        readable = storage.get(key) == b"receipts doctor"
        storage.delete_many([key])
    except Exception as exc:
        raise CheckFailed(
            f"{settings.resolved_storage_url} not writable ({type(exc).__name__})",
            "check STORAGE_URL, S3_ENDPOINT_URL, the bucket and AWS_* credentials",
        ) from None
    if not readable:
        raise CheckFailed(f"{settings.resolved_storage_url} returned other bytes", "check the storage backend")
    return f"{settings.resolved_storage_url} writable"


CHECKS: list[tuple[str, Callable[[Settings], str], tuple[str, ...]]] = [
    ("database", check_database, ()),
    ("prefect api", check_prefect_api, ()),
    ("deployments", check_deployments, ("prefect api",)),
    ("worker", check_worker, ("prefect api",)),
    ("concurrency limits", check_concurrency_limits, ("prefect api", "database")),
    ("dead runs", check_dead_runs, ("prefect api", "database")),
    ("alerts", check_alerts, ("prefect api",)),
    ("mailbox probes", check_probes, ("database",)),
    ("run history", check_run_history, ("database",)),
    ("object storage", check_storage, ()),
]


def run_checks(settings: Settings | None = None) -> list[Check]:
    """Every check's outcome; settings are loaded (and validated) first unless given."""
    try:
        settings = settings or load_settings()
    except ReceiptSyncError as exc:
        return [Check("settings", FAILED, str(exc), "fix the variables named above (see .env.example)")]
    results = [Check("settings", OK, "valid")]
    failed: set[str] = set()
    for name, check, needs in CHECKS:
        blocked = [n for n in needs if n in failed]
        if blocked:
            results.append(Check(name, SKIPPED, f"needs {', '.join(blocked)}"))
            failed.add(name)
            continue
        try:
            results.append(Check(name, OK, check(settings)))
        except CheckWarning as exc:
            results.append(Check(name, WARN, exc.detail, exc.fix))
        except CheckFailed as exc:
            results.append(Check(name, FAILED, exc.detail, exc.fix))
            failed.add(name)
    return results


MARKS = {OK: ("ok", "green"), WARN: ("warn", "yellow"), FAILED: ("FAIL", "bold red"), SKIPPED: ("skip", "dim")}


def render(results: list[Check]) -> Table:
    """A row a check: its status, its name and what was found; what to do about it on the row below (`-> …`)."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for r in results:
        mark, style = MARKS[r.status]
        table.add_row(Text(mark, style=style), r.name, Text(r.detail))  # Text: a detail's brackets are no markup
        if r.fix:
            table.add_row("", "", Text(f"-> {r.fix}"))
    return table


def healthy(results: list[Check]) -> bool:
    """Warnings are reported but do not fail: the stack works, someone should look."""
    return all(r.status in (OK, WARN) for r in results)
