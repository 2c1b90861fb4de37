"""The scheduled fan-out: one incremental sync per idle active mailbox, none for busy or needs_reauth ones."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from sqlalchemy import select

from flows.incremental_syncs import incremental_syncs, plan_fan_out
from models.base import utcnow
from models.db import session_scope
from models.mailbox import MailboxConnection
from models.runs import SyncRun
from receipt_sync.settings import get_settings
from tests.conftest import SettingsOverride
from tests.deployments.conftest import UpProcess
from tests.deployments.helpers import flow_runs_tagged
from tests.factories import add_mailbox, add_sync_run, make_business

PARKED = "gmail-sync/parked"


def _business(
    name: str, mailbox_status: str = "active", run_status: str | None = None, heartbeat_age: float = 0
) -> int:
    business_id = make_business(name)
    mailbox_id = add_mailbox(business_id, provider="gmail", address=f"{name}@x.example", status=mailbox_status)
    if run_status:
        beat = utcnow() - timedelta(seconds=heartbeat_age)
        add_sync_run(
            business_id, mailbox_id=mailbox_id, status=run_status, heartbeat_at=beat, started_at=beat, created_at=beat
        )
    return business_id


def _runs(business_id: int) -> list[SyncRun]:
    with session_scope() as session:
        rows = session.scalars(select(SyncRun).where(SyncRun.business_id == business_id).order_by(SyncRun.id)).all()
        session.expunge_all()
        return list(rows)


@pytest.mark.usefixtures("settings_env")
def test_plan_starts_idle_mailboxes_and_leaves_busy_and_needs_reauth_alone() -> None:
    busy = _business("busy", run_status="running")
    idle = _business("idle")
    reauth = _business("reauth", mailbox_status="needs_reauth")
    with session_scope() as session:
        plan = plan_fan_out(session, get_settings())
    assert (plan.to_start, plan.busy, plan.needs_reauth, plan.stale) == ([idle], [busy], [reauth], [])


@pytest.mark.usefixtures("settings_env")
def test_plan_fails_a_stale_run_so_its_business_syncs_again() -> None:
    stuck = _business("stuck", run_status="running", heartbeat_age=600)  # its worker died 10 minutes ago
    with session_scope() as session:
        plan = plan_fan_out(session, get_settings())
    assert plan.to_start == [stuck] and [s.business_id for s in plan.stale] == [stuck]
    (run,) = _runs(stuck)
    assert run.status == "failed" and (run.error_message or "").startswith("stale: no heartbeat")


@pytest.mark.usefixtures("settings_env")
def test_plan_reports_mailboxes_with_no_completed_sync_for_a_day() -> None:
    late = _business("late")
    with session_scope() as session:
        session.scalars(select(MailboxConnection).where(MailboxConnection.business_id == late)).one().last_synced_at = (
            utcnow() - timedelta(hours=30)
        )
    fresh = _business("fresh")
    with session_scope() as session:
        plan = plan_fan_out(session, get_settings())
    assert [o.business_id for o in plan.overdue] == [late]
    assert fresh in plan.to_start


def _park_gmail_sync(api_url: str) -> None:
    """A gmail-sync deployment on a paused queue of pool `receipts`: the pool is READY (up's worker polls it),
    runs are created, and none starts — so this test's database never meets the worker."""
    with httpx.Client(base_url=api_url, timeout=10) as http:
        http.post("/work_pools/receipts/queues/", json={"name": "parked", "is_paused": True})
        flow_id = http.post("/flows/", json={"name": "gmail-sync"}).json()["id"]
        body = {"name": "parked", "flow_id": flow_id, "work_pool_name": "receipts", "work_queue_name": "parked",
                "entrypoint": "flows/gmail_sync.py:gmail_sync"}  # fmt: skip
        http.post("/deployments/", json=body).raise_for_status()


@pytest.mark.e2e
def test_scheduled_fan_out_starts_exactly_one_incremental_sync(
    settings_env: dict[str, str],
    receipts_up: UpProcess,
    override_settings: SettingsOverride,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _park_gmail_sync(receipts_up.prefect_api_url)
    override_settings({"PREFECT_API_URL": receipts_up.prefect_api_url, "SYNC_DEPLOYMENT": PARKED})
    busy = _business("in-progress", run_status="running")
    idle = _business("idle")
    reauth = _business("reauth", mailbox_status="needs_reauth")
    history = make_business("history")  # no mailbox: only its run history, 40 days old
    ended = utcnow() - timedelta(days=40)
    _old, latest = (add_sync_run(history, status="completed", finished_at=ended) for _ in range(2))

    prefect = {PREFECT_API_URL: receipts_up.prefect_api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with temporary_settings(prefect), caplog.at_level(logging.INFO):
        result = incremental_syncs()

    assert result["started"] == [idle]
    (started,) = _runs(idle)
    assert (started.mode, started.trigger, started.status) == ("incremental", "schedule", "queued")
    flow_runs = flow_runs_tagged(receipts_up.prefect_api_url, f"business:{idle}", "parked")
    assert [r["id"] for r in flow_runs] == [started.flow_run_id]
    assert flow_runs[0]["name"] == f"gmail-sync/idle-{idle}/incremental"
    assert [r.status for r in _runs(busy)] == ["running"]
    assert _runs(reauth) == []
    for business_id in (busy, reauth):
        assert flow_runs_tagged(receipts_up.prefect_api_url, f"business:{business_id}", "parked") == []
    assert f"skipping business {reauth}: its mailbox needs_reauth" in caplog.text
    # The round also keeps history bounded: the old run goes, the business's latest run stays.
    assert [r.id for r in _runs(history)] == [latest]
    assert "retention: pruned 1 sync run(s) and 0 deletion run(s)" in caplog.text
