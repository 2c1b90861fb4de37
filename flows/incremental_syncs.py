"""The `incremental-syncs` flow: on a schedule, start an incremental `gmail-sync` for every idle active mailbox.

First the reconciler (services/reconcile.py) ends every run whose process is gone — failed in the database,
Crashed in Prefect, its slot freed — so no run stays Running or Cancelling. Then, for each business with an
active Gmail mailbox: a stale sync is failed and its flow run crashed (a dead worker never blocks a business),
a live one is left alone; the idle ones are probed (one `getProfile` each, bounded concurrency, in this
process: services/mailbox_probe.py) and an incremental sync is started only for a mailbox whose history id
moved, that never completed a sync, whose last run failed, that is overdue or whose sweep has work pending
(an unfinished walk or deferred messages) — through the `gmail-sync`
deployment, on its own work queue served before long syncs (the same path as the API's trigger, so the
one-active-run guard and the no-worker refusal apply). Businesses whose mailbox `needs_reauth` are skipped
and logged: only the user reconnecting can fix them. Mailboxes with no completed sync (nor an unchanged probe)
for `overdue_hours` raise an event that the "overdue mailbox" automation turns into a notification
(deployments/automations.py). Last, final run records older than RUN_RETENTION_DAYS are pruned
(services/retention.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from prefect import flow, get_run_logger, task
from prefect.events import emit_event
from prefect.runtime import flow_run
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.mailbox import MailboxConnection
from models.queries.mailboxes import gmail_mailboxes_by_business
from models.queries.sync_runs import active_sync_run, fail_if_stale, stale_thresholds
from receipt_sync.errors import OrchestratorUnavailable, ReceiptSyncError, SyncAlreadyRunning
from receipt_sync.settings import Settings, get_settings
from services.mailbox_probe import (
    Candidate,
    Decision,
    candidate,
    decide_from_probes,
    record_probes,
    split,
    up_to_date_at,
    with_sweep_work,
)
from services.reconcile import crash_quietly, reconcile_runs
from services.retention import prune_run_history
from services.sync_requests import request_sync
from tasks.mailbox_probes import probe_all

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
    candidates: list[Candidate] = field(default_factory=list)  # the mailboxes of `to_start`, to probe


def _is_overdue(mailbox: MailboxConnection, now: datetime, overdue_after: timedelta) -> bool:
    """No completed sync, nor a probe that found it unchanged, for `overdue_after`."""
    return now - (up_to_date_at(mailbox) or mailbox.created_at) > overdue_after


def plan_fan_out(
    session: Session, settings: Settings, *, overdue_hours: float = 24, now: datetime | None = None
) -> FanOutPlan:
    """Decide, from the database alone, which businesses get an incremental sync now; fails stale runs."""
    now = now or utcnow()
    thresholds = stale_thresholds(settings)
    plan = FanOutPlan()
    for business_id, mailboxes in gmail_mailboxes_by_business(session).items():
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
        plan.candidates.append(candidate(session, active[0]))
    plan.candidates = with_sweep_work(session, plan.candidates)
    return plan


@task(name="plan-incremental-syncs")
def plan_incremental_syncs(overdue_hours: float) -> FanOutPlan:
    """Commit the plan (stale runs failed) before anything is triggered."""
    with session_scope() as session:
        return plan_fan_out(session, get_settings(), overdue_hours=overdue_hours)


@task(name="probe-mailboxes")
def probe_mailboxes(candidates: list[Candidate], overdue_hours: float) -> list[Decision]:
    """One `getProfile` per mailbox that might be unchanged (bounded concurrency), recorded on each mailbox."""
    decisions, to_probe = split(candidates, timedelta(hours=overdue_hours))
    probes = probe_all(to_probe, get_settings().probe_concurrency, run_key=f"probe-{uuid4().hex}")
    with session_scope() as session:
        record_probes(session, probes)
    return decisions + decide_from_probes(to_probe, probes)


@task(name="reconcile-dead-runs")
def reconcile_dead_runs() -> str:
    """End every run whose process is gone before planning, so the plan sees those businesses idle."""
    result = reconcile_runs(get_settings())
    return result.summary() + (f" (Prefect unchecked: {result.prefect_error})" if result.prefect_error else "")


@task(name="prune-run-history")
def prune_old_runs() -> str:
    """Keep our run history bounded: final runs older than RUN_RETENTION_DAYS go (batched, no table lock)."""
    return prune_run_history(get_settings()).summary()


@task(name="crash-stale-flow-run")
def crash_stale_flow_run(stale: StaleRun) -> bool:
    """Best effort: the run record is already failed; set its flow run Crashed (nobody is left to acknowledge a
    cancellation) and free its slot. A Prefect hiccup must not stop the round."""
    return crash_quietly(get_settings(), stale.business_id, stale.flow_run_id, stale.reason)


def _retry_unreachable(task: object, task_run: object, state: object) -> bool:
    """Retry only a Prefect API that did not answer; a refusal (no worker, reauth) will not change in seconds."""
    try:
        state.result()  # type: ignore[attr-defined]
    except OrchestratorUnavailable:
        return True
    except BaseException:
        return False
    return False


@task(
    name="start-incremental-sync",
    task_run_name="start-incremental-sync-business-{business_id}",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_unreachable,
)
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


def _round_name() -> str:
    """`incremental-syncs/2026-12-03 17:45 UTC`: each scheduled round is named for when it was due."""
    due = flow_run.scheduled_start_time.astimezone(UTC)
    return f"incremental-syncs/{due:%Y-%m-%d %H:%M} UTC"


@flow(name="incremental-syncs", flow_run_name=_round_name, log_prints=False)
def incremental_syncs(overdue_hours: float = 24) -> dict[str, list[int]]:
    """Start an incremental sync for every idle active Gmail mailbox; skip and log the ones needing reauth.

    Args:
        overdue_hours: Flag a mailbox (and alert) when it has had no completed sync for this many hours.
    """
    logger = get_run_logger()
    logger.info("reconciler: %s", reconcile_dead_runs())
    plan = plan_incremental_syncs(overdue_hours)
    decisions = probe_mailboxes(plan.candidates, overdue_hours)
    unchanged = [d.business_id for d in decisions if not d.sync_reason]
    logger.info(
        "probed %s mailbox(es): %s unchanged, %s to sync",
        sum(1 for d in decisions if d.probe),
        len(unchanged),
        len(decisions) - len(unchanged),
    )
    for d in decisions:
        if d.sync_reason:
            logger.info("business %s: mailbox %s gets a sync: %s", d.business_id, d.mailbox_id, d.sync_reason)
        if d.probe and d.probe.auth_error:
            logger.warning("business %s: mailbox %s needs_reauth: %s", d.business_id, d.mailbox_id, d.probe.error)
    plan.to_start = [d.business_id for d in decisions if d.sync_reason]
    for business_id in plan.needs_reauth:
        logger.warning("skipping business %s: its mailbox needs_reauth (the user must reconnect Gmail)", business_id)
    for stale in plan.stale:
        logger.warning("sync run %s of business %s failed as stale (%s)", stale.run_id, stale.business_id, stale.reason)
        crash_stale_flow_run(stale)
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
    logger.info("retention: %s", prune_old_runs())
    if refused:
        raise RuntimeError(f"could not start incremental syncs for businesses {sorted(refused)}: see the log above")
    return {"started": started, "busy": plan.busy, "needs_reauth": plan.needs_reauth, "unchanged": unchanged}


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
