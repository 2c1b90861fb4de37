"""prefect.yaml against a real Prefect server, and a failed sync retried the way the Prefect UI's Retry does."""

from __future__ import annotations

import json
import os
import subprocess
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import State, StateType

from deployments.automations import MAILBOX_OVERDUE, RUN_FAILED, ZOMBIE
from models.db import session_scope
from models.runs import SyncRun
from tests.deployments.conftest import REFRESH_TOKEN, UpProcess, Webhook
from tests.deployments.helpers import (
    connected_business,
    flow_run_in,
    load_messages,
    stored_message_ids,
    wait_for,
)
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import receipt_ids, sample_messages, well_formed_stored
from tests.fixtures.prefect_server import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.e2e


def test_prefect_deploy_all_from_prefect_yaml_registers_every_deployment_on_the_process_pool(
    receipts_up: UpProcess,
) -> None:
    env = {**receipts_up.env, "PREFECT_API_URL": receipts_up.prefect_api_url}
    done = subprocess.run(
        [str(VENV_BIN / "prefect"), "--no-prompt", "deploy", "--all"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    api = receipts_up.prefect_api_url
    deployments = {d["name"]: d for d in httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()}
    assert {"gmail-sync", "receipt-deletion", "incremental-syncs"} <= set(deployments)
    for name in ("gmail-sync", "receipt-deletion", "incremental-syncs"):
        d = deployments[name]
        assert d["work_pool_name"] == "receipts"
        assert d["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}]
        assert d["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    (schedule,) = deployments["incremental-syncs"]["schedules"]
    assert schedule["schedule"]["interval"] == 900 and schedule["active"]
    assert httpx.get(f"{api}/work_pools/receipts", timeout=10).json()["type"] == "process"
    automations = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
    assert {ZOMBIE, RUN_FAILED, MAILBOX_OVERDUE} <= {a["name"] for a in automations}


def _retry_like_the_ui(api_url: str, flow_run_id: str) -> None:
    retry = State(type=StateType.SCHEDULED, name="AwaitingRetry", message="Retry from the Prefect UI")
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), retry, force=True)


@pytest.mark.usefixtures("up_env")
def test_a_sync_failed_mid_way_and_retried_from_prefect_resumes_and_stores_each_receipt_once(
    receipts_up: UpProcess, up_gmail: FakeGmailServer, alert_webhook: Webhook
) -> None:
    mailbox = load_messages(up_gmail, sample_messages(80, seed=31))
    business_id, token = connected_business("Retry Ltd", REFRESH_TOKEN)
    # A permanent error on the third listing (pages of 10): two pages are stored, the receipt query's mail is not
    # through. Placed by call count, not by time: a read-ahead listing cannot slip past it.
    up_gmail.fail_next(1, status=400, reason="invalidArgument", method="messages.list", after=2)
    headers = {"Authorization": f"Bearer {token}"}
    accepted = httpx.post(f"{receipts_up.api_url}/api/receipts/sync", json={"mode": "full"}, headers=headers)
    assert accepted.status_code == 202, accepted.text
    run_id, flow_run_id = accepted.json()["id"], accepted.json()["flow_run_id"]
    failed = wait_for(lambda: flow_run_in(receipts_up.prefect_api_url, flow_run_id, "FAILED"), "run failed")
    assert "400" in (failed["state"]["message"] or "") or failed["state"]["name"] == "Failed"
    stored_before = stored_message_ids(business_id)
    assert 0 < len(stored_before) < len(receipt_ids(mailbox))  # it really stopped half-way
    name = f"gmail-sync/retry-ltd-{business_id}/full"
    alert = wait_for(lambda: next((a for a in alert_webhook.received if name in a["subject"]), None), "the alert", 60)
    assert "Failed" in alert["subject"] and "Retry it from the Prefect UI" in alert["text"]
    assert REFRESH_TOKEN not in json.dumps(alert)
    scanned_before = _run(run_id).messages_scanned

    _retry_like_the_ui(receipts_up.prefect_api_url, flow_run_id)
    wait_for(lambda: flow_run_in(receipts_up.prefect_api_url, flow_run_id, "COMPLETED"), "retry completed")

    run = _run(run_id)
    assert run.status == "completed" and run.flow_run_id == flow_run_id
    stored = stored_message_ids(business_id)
    assert len(stored) == len(set(stored))  # once each
    assert well_formed_stored(set(stored), mailbox) == receipt_ids(mailbox)
    assert run.messages_scanned - scanned_before < len(mailbox)  # resumed from the checkpoint
    assert os.environ["PREFECT_API_URL"] == receipts_up.prefect_api_url


def _run(run_id: int) -> SyncRun:
    with session_scope() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        session.expunge(run)
        return run
