"""The `incremental-syncs` flow: on a schedule, start an incremental `gmail-sync` for every idle active mailbox.

For each business with an active Gmail mailbox: a stale queued/running sync is failed and its Prefect flow run
cancelled (a dead worker never blocks a business), a live one is left alone, and otherwise an incremental sync
is started through the `gmail-sync` deployment — the same path as the API's trigger, so the one-active-run
guard and the no-worker refusal apply. Businesses whose mailbox `needs_reauth` are skipped and logged: only the
user reconnecting can fix them. Mailboxes with no completed sync for `overdue_hours` raise an event that the
"overdue mailbox" automation turns into a notification (deployments/automations.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.events import emit_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.mailbox import MailboxConnection
from models.queries.sync_runs import active_sync_run, fail_if_stale, stale_thresholds
from receipt_sync.errors import OrchestratorUnavailable, ReceiptSyncError, SyncAlreadyRunning
from receipt_sync.settings import Settings, get_settings
from services import prefect_access
from services.sync_requests import request_sync

OVERDUE_EVENT = "receipts.mailbox.sync-overdue"


@dataclass(frozen=True)
class StaleRun:
    business_id: int
    run_id: int
    flow_run_id: str | None
    reason: str


@dataclass(frozen=True)
class OverdueMailbox:
    business_id: int
    mailbox_id: int
    last_synced_at: datetime | None


@dataclass
class FanOutPlan:
    """What this round does: businesses to start, and those left alone with the reason."""

    to_start: list[int] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)
    needs_reauth: list[int] = field(default_factory=list)
    stale: list[StaleRun] = field(default_factory=list)
    overdue: list[OverdueMailbox] = field(default_factory=list)


def _gmail_mailboxes(session: Session) -> dict[int, list[MailboxConnection]]:
    """Connected Gmail mailboxes by business (an imported mbox is a one-off, not something to poll)."""
    rows = session.scalars(
        select(MailboxConnection)
        .where(MailboxConnection.provider == "gmail", MailboxConnection.status != "disconnected")
        .order_by(MailboxConnection.business_id, MailboxConnection.id)
    ).all()
    by_business: dict[int, list[MailboxConnection]] = {}
    for mailbox in rows:
        by_business.setdefault(mailbox.business_id, []).append(mailbox)
    return by_business


def _is_overdue(mailbox: MailboxConnection, now: datetime, overdue_after: timedelta) -> bool:
    return now - (mailbox.last_synced_at or mailbox.created_at) > overdue_after


def plan_fan_out(
    session: Session, settings: Settings, *, overdue_hours: float = 24, now: datetime | None = None
) -> FanOutPlan:
    """Decide, from the database alone, which businesses get an incremental sync now; fails stale runs."""
    now = now or utcnow()
    thresholds = stale_thresholds(settings)
    plan = FanOutPlan()
    for business_id, mailboxes in _gmail_mailboxes(session).items():
        active = [m for m in mailboxes if m.status == "active"]
        if not active:
            plan.needs_reauth.append(business_id)
            continue
        plan.overdue += [
            OverdueMailbox(business_id, m.id, m.last_synced_at)
            for m in active
            if _is_overdue(m, now, timedelta(hours=overdue_hours))
        ]
        run = active_sync_run(session, business_id)
        if run is not None:
            reason = fail_if_stale(session, run, **thresholds)
            if not reason:
                plan.busy.append(business_id)
                continue
            plan.stale.append(StaleRun(business_id, run.id, run.flow_run_id, reason))
        plan.to_start.append(business_id)
    return plan


@task(name="plan-incremental-syncs")
def plan_incremental_syncs(overdue_hours: float) -> FanOutPlan:
    """Commit the plan (stale runs failed) before anything is triggered."""
    with session_scope() as session:
        return plan_fan_out(session, get_settings(), overdue_hours=overdue_hours)


@task(name="cancel-stale-flow-run")
def cancel_stale_flow_run(stale: StaleRun) -> bool:
    """Best effort: the run record is already failed; a Prefect hiccup must not stop the round."""
    if not stale.flow_run_id:
        return False
    try:
        return prefect_access.cancel_flow_run(get_settings(), stale.flow_run_id)
    except OrchestratorUnavailable:
        return False


def _retry_unreachable(task: object, task_run: object, state: object) -> bool:
    """Retry only a Prefect API that did not answer; a refusal (no worker, reauth) will not change in seconds."""
    try:
        state.result()  # type: ignore[attr-defined]
    except OrchestratorUnavailable:
        return True
    except BaseException:
        return False
    return False


@task(name="start-incremental-sync", retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_unreachable)
def start_incremental_sync(business_id: int) -> str | None:
    """Queue one incremental sync through the deployment (trigger `schedule`); returns its flow run id."""
    with session_scope() as session:
        run = request_sync(
            session, get_settings(), business_id=business_id, parameters={"mode": "incremental"}, trigger="schedule"
        )
        return run.flow_run_id


def _emit_overdue(mailbox: OverdueMailbox, overdue_hours: float) -> None:
    last = mailbox.last_synced_at.isoformat() if mailbox.last_synced_at else "never"
    emit_event(
        event=OVERDUE_EVENT,
        resource={
            "prefect.resource.id": f"receipts.mailbox.{mailbox.mailbox_id}",
            "prefect.resource.name": f"business-{mailbox.business_id}/mailbox-{mailbox.mailbox_id}",
            "receipts.business-id": str(mailbox.business_id),
        },
        payload={
            "message": f"business {mailbox.business_id}: mailbox {mailbox.mailbox_id} has had no completed sync "
            f"for {overdue_hours:g} hours (last completed: {last})",
            "last_synced_at": last,
        },
    )


@flow(name="incremental-syncs", flow_run_name="incremental-syncs/{overdue_hours}h-overdue-check", log_prints=False)
def incremental_syncs(overdue_hours: float = 24) -> dict[str, list[int]]:
    """Start an incremental sync for every idle active Gmail mailbox; skip and log the ones needing reauth."""
    logger = get_run_logger()
    plan = plan_incremental_syncs(overdue_hours)
    for business_id in plan.needs_reauth:
        logger.warning("skipping business %s: its mailbox needs_reauth (the user must reconnect Gmail)", business_id)
    for stale in plan.stale:
        logger.warning("sync run %s of business %s failed as stale (%s)", stale.run_id, stale.business_id, stale.reason)
        cancel_stale_flow_run(stale)
    for business_id in plan.busy:
        logger.info("business %s already has a sync queued or running: left alone", business_id)
    started, refused = _start_all(plan.to_start, logger)
    for mailbox in plan.overdue:
        logger.warning(
            "business %s: mailbox %s has no completed sync for %sh",
            mailbox.business_id,
            mailbox.mailbox_id,
            overdue_hours,
        )
        _emit_overdue(mailbox, overdue_hours)
    if refused:
        raise RuntimeError(f"could not start incremental syncs for businesses {sorted(refused)}: see the log above")
    return {"started": started, "busy": plan.busy, "needs_reauth": plan.needs_reauth}


def _start_all(business_ids: list[int], logger: object) -> tuple[list[int], dict[int, str]]:
    started: list[int] = []
    refused: dict[int, str] = {}
    for business_id in business_ids:
        try:
            flow_run_id = start_incremental_sync(business_id)
        except SyncAlreadyRunning:  # the API started one between the plan and now: that is fine
            logger.info("business %s: a sync started meanwhile", business_id)  # type: ignore[attr-defined]
            continue
        except ReceiptSyncError as exc:
            logger.error("business %s: incremental sync refused: %s", business_id, exc)  # type: ignore[attr-defined]
            refused[business_id] = str(exc)
            continue
        logger.info("business %s: incremental sync queued as flow run %s", business_id, flow_run_id)  # type: ignore[attr-defined]
        started.append(business_id)
    return started, refused
