"""What a finished sync tells people: the summary artifact (markdown) and the flow run's final state message.

The summary names the business and its mailbox, the window, how many messages the mailbox holds against how many
the receipt search listed and how many were fetched (the rest were stored before), what was saved, what failed
and why, the Gmail quota units spent, the duration, and where to look next (the run in the API and the UI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from models.business import Business
from models.db import session_scope
from models.mailbox import MailboxConnection
from models.queries.sync_runs import get_sync_run
from models.runs import MessageErrorEntry, SyncParameters, SyncRun
from receipt_sync.settings import get_settings
from services.prefect_access import flow_run_ui_url
from services.run_labels import artifact_key, business_tags, sync_run_name
from tasks.runs import SyncSummary

ERRORS_SHOWN = 10


@dataclass(frozen=True)
class SyncReport:
    """A run as its summary shows it (plain values, read in one short session)."""

    run_id: int
    business_id: int
    business_name: str
    mailbox: str
    mode: str
    window: str
    status: str
    mailbox_messages: int | None
    listed: int
    fetched: int
    skipped: int
    saved: int
    errors: int
    quota_units: int
    sweep: str
    duration_seconds: float | None
    api_url: str
    ui_url: str | None
    first_errors: list[MessageErrorEntry] = field(default_factory=list)


def business_name(business_id: int) -> str | None:
    with session_scope() as session:
        business = session.get(Business, business_id)
        return business.name if business else None


@dataclass(frozen=True)
class RunLabels:
    """How a business's sync shows in Prefect: the flow run's name and tags, and its artifacts' keys."""

    name: str
    tags: list[str]
    progress_key: str
    summary_key: str


def run_labels(business_id: int, mode: str, reprocess_failed: bool = False) -> RunLabels:
    """The flow run's name, tags and artifact keys for a business (its name read from the database)."""
    name = business_name(business_id)
    return RunLabels(
        name=sync_run_name(business_id, name, mode, reprocess_failed),
        tags=business_tags(business_id, name),
        progress_key=artifact_key("sync-progress", business_id, name),
        summary_key=artifact_key("sync-summary", business_id, name),
    )


def _window(parameters: SyncParameters) -> str:
    if parameters.get("from_date") or parameters.get("to_date"):
        return f"{parameters.get('from_date') or 'the beginning'} to {parameters.get('to_date') or 'now'}"
    return f"the last {parameters.get('months_back') or 36} months"


def _mailbox_label(mailbox: MailboxConnection | None) -> str:
    if mailbox is None:
        return "no mailbox"
    address = Path(mailbox.address).name if mailbox.provider == "mbox" else mailbox.address
    return f"{address} ({'Gmail' if mailbox.provider == 'gmail' else 'imported .mbox'})"


def read_sync_report(run_id: int) -> SyncReport:
    settings = get_settings()
    with session_scope() as session:
        run = get_sync_run(session, run_id)
        business = session.get(Business, run.business_id)
        mailbox = session.get(MailboxConnection, run.mailbox_id) if run.mailbox_id else None
        duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
        path = f"/api/receipts/sync/runs/{run.id}"
        parameters: SyncParameters = {**(run.parameters or {})}
        return SyncReport(
            run_id=run.id,
            business_id=run.business_id,
            business_name=business.name if business else f"business {run.business_id}",
            mailbox=_mailbox_label(mailbox),
            mode=run.mode + (" (reprocessing failed messages)" if parameters.get("reprocess_failed") else ""),
            window=_window(parameters) if run.mode != "incremental" else "new mail since the last sync",
            status=run.status,
            mailbox_messages=run.mailbox_messages,
            listed=run.messages_scanned,
            fetched=run.messages_fetched,
            skipped=run.duplicates_skipped,
            saved=run.receipts_saved,
            errors=run.errors_count,
            quota_units=run.quota_units,
            sweep=_sweep_line(run),
            duration_seconds=duration,
            api_url=f"{settings.api_public_url.rstrip('/')}{path}" if settings.api_public_url else path,
            ui_url=flow_run_ui_url(settings, run.flow_run_id),
            first_errors=list(run.message_errors or [])[:ERRORS_SHOWN],
        )


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def summary_markdown(report: SyncReport) -> str:
    """The summary artifact: a table people read, then the first failed messages with their reasons."""
    duration = "" if report.duration_seconds is None else f"{report.duration_seconds:,.1f} s"
    rows = [
        ("Business", f"{report.business_name} (id {report.business_id})"),
        ("Mailbox", report.mailbox),
        ("Sync", f"{report.mode}, {report.window}"),
        ("Status", report.status),
        ("Messages in the mailbox", _count(report.mailbox_messages)),
        ("Listed by the receipt search", _count(report.listed)),
        ("Fetched (not stored before)", _count(report.fetched)),
        ("Skipped (already stored or looked at)", _count(report.skipped)),
        ("Receipts saved", _count(report.saved)),
        ("Message errors", _count(report.errors)),
        ("Gmail quota units spent", _count(report.quota_units)),
        ("Sweep (mail the receipt search did not list)", report.sweep),
        ("Duration", duration or "unknown"),
        ("This run in the API", f"`GET {report.api_url}`"),
    ]
    if report.ui_url:
        rows.append(("This run in the Prefect UI", f"[{report.ui_url}]({report.ui_url})"))
    lines = [f"# Sync of {_md(report.business_name)}", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_md(value)} |" for label, value in rows]
    if report.first_errors:
        lines += ["", f"## Failed messages (first {len(report.first_errors)} of {report.errors})", ""]
        lines += ["| message id | kind | reason |", "|---|---|---|"]
        lines += [f"| `{e['message_id']}` | {e.get('kind', '')} | {_md(e['error'])} |" for e in report.first_errors]
        lines += ["", f"List them all: `GET {report.api_url}/errors` or `receipts errors --run {report.run_id}`; "
                  f"try them again: `receipts reprocess --business {report.business_id}`."]  # fmt: skip
    return "\n".join(lines)


def _sweep_line(run: SyncRun) -> str:
    if run.sweep_status is None:
        return "not reached"
    did = f"{run.sweep_messages_scanned:,} looked at, {run.sweep_messages_fetched:,} read, "
    return f"{run.sweep_status}: {did}{run.sweep_receipts_saved:,} receipts found"


def _md(text: str) -> str:
    """Table-safe text (a reason may hold `|` or line breaks)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def state_message(summary: SyncSummary) -> str:
    """The flow run's final state message: the error count first, as the UI shows it beside the state."""
    errors = summary.errors
    done = f"{summary.receipts_saved} receipts saved from {summary.messages_scanned} messages"
    if errors:
        return f"Completed with {errors} message error{'s' if errors != 1 else ''}: {done}"
    return f"Completed: {done}"
