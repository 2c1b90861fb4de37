"""What an operator looks up from the command line: businesses, runs, and a new token they must save."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cli import app
from cli.common import out
from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionRun
from models.queries.businesses import create_business
from models.queries.mailboxes import connect_mailbox
from models.queries.sync_runs import create_sync_run, finish_run
from tests.cli.conftest import ok, runner


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a wide terminal shows them (off a terminal rich assumes 80 columns and wraps cells)."""
    monkeypatch.setattr(out, "width", 250)


def _business(name: str, address: str | None = None) -> int:
    with session_scope() as session:
        business = create_business(session, name)
        if address:
            connect_mailbox(session, business_id=business.id, provider="gmail", address=address)
        return business.id


def test_business_list_shows_each_business_with_its_mailbox(settings_env: dict[str, str]) -> None:
    acme = _business("Acme Ltd", "books@acme.example")
    bare = _business("No Mail Yet")

    table = ok("business", "list")
    listed = {row["id"]: row for row in json.loads(ok("business", "list", "--json"))}

    assert "Acme Ltd" in table and "books@acme.example" in table and "No Mail Yet" in table
    assert listed[acme]["mailbox"] == "books@acme.example" and listed[acme]["mailbox_status"] == "active"
    assert listed[bare]["mailbox"] is None and listed[bare]["receipts"] == 0


def test_runs_show_status_counters_and_the_error_of_a_failed_run(settings_env: dict[str, str]) -> None:
    business_id = _business("Runs Ltd", "runs@example.com")
    other = _business("Other Ltd", "other@example.com")
    with session_scope() as session:
        failed = create_sync_run(session, business_id=business_id, mailbox_id=None, mode="range", trigger="cli",
                                 parameters={"from_date": "2026-01-01", "to_date": "2026-02-01"})  # fmt: skip
        failed.started_at = utcnow() - timedelta(seconds=42)
        failed.messages_scanned, failed.receipts_saved, failed.errors_count = 120, 17, 6
        finish_run(session, failed, "failed", "Gmail refused the token: reconnect the mailbox")
        session.add(DeletionRun(business_id=business_id, status="completed", selector={"all": True}, total=4,
                                succeeded=4))  # fmt: skip
        create_sync_run(session, business_id=other, mailbox_id=None, mode="full", trigger="api", parameters={})

    table = ok("runs", "--business", str(business_id))

    (row,) = [line for line in table.splitlines() if f" {failed.id} " in line and "failed" in line]
    assert "2026-01-01..2026-02-01" in row and "120" in row and "17" in row and " 6 " in row
    assert "42 s" in row and "Gmail refused the token: reconnect the mailbox" in row
    assert "Deletion runs" in table and "completed" in table
    assert "queued" not in table  # the other business's run
    assert "queued" in ok("runs")


def test_runs_of_a_business_that_does_not_exist_is_one_line(settings_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["runs", "--business", "777"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: business 777 does not exist; list them with: receipts business list "
        "(or create one: receipts business create --name NAME)"
    )


def test_a_new_token_is_alone_on_stdout_with_a_save_it_now_line_on_stderr(settings_env: dict[str, str]) -> None:
    business_id = _business("Token Ltd")
    result = runner.invoke(app, ["token", "create", "--business", str(business_id)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("rs_") and len(result.stdout.strip().splitlines()) == 1
    assert "Save this token now: it is shown only once" in result.stderr


def test_a_member_token_without_a_business_is_a_usage_error(settings_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["token", "create"])
    assert result.exit_code == 2 and "a member token needs --business ID" in result.stderr


def test_business_sweep_shows_and_switches_the_sweep(settings_env: dict[str, str]) -> None:
    business_id = _business("Sweep Ltd", "owner@sweep.example")
    assert json.loads(ok("business", "sweep", "--business", str(business_id), "--json"))["enabled"] is True

    said = ok("business", "sweep", "--business", str(business_id), "--off")

    assert said.startswith(f"sweep off for business {business_id}: off")
    shown = json.loads(ok("business", "sweep", "--business", str(business_id), "--json"))
    assert shown["enabled"] is False and shown["state"] == "off"


def test_business_sweep_of_an_unknown_business_is_one_line(settings_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["business", "sweep", "--business", "999999", "--off"])
    assert result.exit_code == 1 and "999999" in result.output and "Traceback" not in result.output
