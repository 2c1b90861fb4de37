"""`receipts up` as an operator uses it: it starts, serves the API and the Prefect UI, runs a sync through the
deployment, `receipts doctor` vouches for it (and names the worker when it is gone), and Ctrl-C leaves nothing.

The tests share one `receipts up` and run in file order; the last one stops it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.deployments.conftest import REFRESH_TOKEN, UpProcess, alive, stop_up
from tests.deployments.helpers import (
    connected_business,
    flow_run,
    load_messages,
    stored_message_ids,
    wait_for,
)
from tests.fakes.gmail_server import FakeGmailServer
from tests.fixtures.mailbox import receipt_ids, sample_messages, well_formed_stored
from tests.fixtures.prefect_server import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.e2e


def doctor(up: UpProcess) -> subprocess.CompletedProcess[str]:
    env = {**up.env, "PREFECT_API_URL": up.prefect_api_url}
    return subprocess.run(
        [str(VENV_BIN / "receipts"), "doctor"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240
    )


def doctor_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """The doctor's table as {check: (status, its whole row)}; a fix row (`-> …`) belongs to no check."""
    rows = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 2 and cells[0] in ("ok", "warn", "FAIL", "skip"):
            rows[cells[1]] = (cells[0], line)
    return rows


def test_up_prints_the_urls_and_answers_on_the_api_and_the_prefect_ui(receipts_up: UpProcess) -> None:
    out = receipts_up.output
    for line in (f"Prefect UI   {receipts_up.ui_url}", f"API          {receipts_up.api_url}", "polling work pool"):
        assert line in out
    # What another shell needs to use this stack, ready to paste.
    assert f"export PREFECT_API_URL={receipts_up.prefect_api_url}" in out
    assert "export DATABASE_URL=" in out and "export DATA_DIR=" in out
    assert httpx.get(f"{receipts_up.api_url}/readyz", timeout=10).status_code == 200
    ui = httpx.get(receipts_up.ui_url, timeout=10)
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    assert httpx.get(f"{receipts_up.prefect_api_url}/health", timeout=10).status_code == 200


@pytest.mark.usefixtures("up_env")
def test_a_sync_requested_from_the_api_runs_through_the_deployment_on_the_worker(
    receipts_up: UpProcess, up_gmail: FakeGmailServer
) -> None:
    mailbox = load_messages(up_gmail, sample_messages(25, seed=41))
    business_id, token = connected_business("Up Ltd", REFRESH_TOKEN)
    headers = {"Authorization": f"Bearer {token}"}
    accepted = httpx.post(f"{receipts_up.api_url}/api/receipts/sync", json={"mode": "full"}, headers=headers)
    assert accepted.status_code == 202, accepted.text

    def finished() -> dict | None:
        run = httpx.get(f"{receipts_up.api_url}/api/receipts/sync/runs/{accepted.json()['id']}", headers=headers)
        return run.json() if run.json()["status"] in ("completed", "failed") else None

    run = wait_for(finished, "the sync to finish", timeout=120)
    assert run["status"] == "completed", run
    assert well_formed_stored(set(stored_message_ids(business_id)), mailbox) == receipt_ids(mailbox)
    # Prefect records the flow run's final state a moment after the run record is closed.
    prefect_run = wait_for(
        lambda: (r := flow_run(receipts_up.prefect_api_url, run["flow_run_id"]))["state"]["type"] != "RUNNING" and r,
        "Prefect to close the flow run",
        timeout=30,
    )
    assert prefect_run["name"] == f"gmail-sync/up-ltd-{business_id}/full"
    assert prefect_run["state"]["type"] == "COMPLETED" and f"business:{business_id}" in prefect_run["tags"]


def test_doctor_passes_against_a_healthy_up(receipts_up: UpProcess) -> None:
    result = doctor(receipts_up)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = doctor_rows(result.stdout)
    for check in ("settings", "database", "prefect api", "deployments", "worker", "concurrency limits"):
        assert rows[check][0] == "ok", result.stdout
    assert rows["object storage"][0] == "ok", result.stdout
    assert rows["alerts"][0] == "ok", result.stdout  # ALERT_WEBHOOK_URL is set here, so deploy installed them
    assert rows["run history"][0] == "ok" and "pruned by the next incremental round" in rows["run history"][1]


def test_the_prefect_server_up_starts_vacuums_old_flow_runs(receipts_up: UpProcess) -> None:
    """Prefect's history stays bounded: its own settings endpoint shows the db_vacuum service on flow runs,
    keeping them RUN_RETENTION_DAYS (default 30)."""
    response = httpx.get(f"{receipts_up.prefect_api_url}/admin/settings", timeout=10)
    vacuum = response.json()["server"]["services"]["db_vacuum"]
    assert set(vacuum["enabled"]) == {"events", "flow_runs"}
    assert vacuum["retention_period"] == "P30D"  # 30 days, as ISO 8601


def test_doctor_warns_when_the_failed_run_alert_is_missing(receipts_up: UpProcess) -> None:
    api = receipts_up.prefect_api_url
    automations = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
    for automation in automations:
        if automation["name"] == "receipts: sync or deletion run failed":
            httpx.delete(f"{api}/automations/{automation['id']}", timeout=10).raise_for_status()

    result = doctor(receipts_up)

    assert result.returncode == 0, result.stdout + result.stderr  # a warning, not a failure
    warned = {check: line for check, (status, line) in doctor_rows(result.stdout).items() if status == "warn"}
    assert list(warned) == ["alerts"], result.stdout
    assert "sync or deletion run failed" in warned["alerts"]
    assert "ALERT_WEBHOOK_URL" in result.stdout


def test_doctor_names_the_worker_check_when_the_worker_is_stopped(receipts_up: UpProcess) -> None:
    os.killpg(receipts_up.child_pids()["worker"], signal.SIGTERM)
    # Prefect marks a worker OFFLINE three heartbeats (5 s here) after its last one.
    result = wait_for(lambda: (r := doctor(receipts_up)).returncode and r, "doctor to fail", timeout=300, every=3)
    failed = [check for check, (status, _) in doctor_rows(result.stdout).items() if status == "FAIL"]
    assert failed == ["worker"], result.stdout
    assert "-> start a worker: prefect worker start --pool receipts" in result.stdout
    assert "worker exited" in receipts_up.output  # up says so, and keeps the rest running
    assert receipts_up.proc.poll() is None


def _processes_with_env(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (everything `up` started carries its DATA_DIR)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


def test_ctrl_c_stops_everything_up_started(receipts_up: UpProcess) -> None:
    children = receipts_up.child_pids()
    marker = f"DATA_DIR={receipts_up.env['DATA_DIR']}\0"
    assert _processes_with_env(marker)  # the server and API are running now
    assert stop_up(receipts_up, signal.SIGINT) == 0, receipts_up.output
    assert "SIGINT received" in receipts_up.output and "stopped." in receipts_up.output
    assert not [name for name, pid in children.items() if alive(pid)]
    assert _processes_with_env(marker) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(receipts_up.api_url + "/healthz", timeout=2)
