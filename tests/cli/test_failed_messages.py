"""`receipts errors` and `receipts reprocess`: failed messages listed for people, and tried again on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from receipt_sync.samples import generate_messages, write_mbox

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def cli_env(settings_env: dict[str, str], prefect_api_url: str) -> dict[str, str]:
    return settings_env


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_errors_lists_a_business_s_and_a_run_s_failed_messages_and_reprocess_tries_them_again(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    messages = generate_messages(60, seed=17)
    mbox = tmp_path / "Takeout.mbox"
    write_mbox(messages, mbox)
    business_id = _ok("business", "create", "--name", "Importer").strip()
    first = json.loads(_ok("import-mbox", str(mbox), "--business", business_id))

    failed = json.loads(_ok("errors", "--business", business_id, "--json"))
    in_run = json.loads(_ok("errors", "--run", str(first["sync_run_id"]), "--json"))
    table = _ok("errors", "--business", business_id)

    assert failed and all(f["message_id"] and f["error"] and f["kind"] == "permanent" for f in failed)
    assert {f["message_id"] for f in failed} <= {e["message_id"] for e in in_run}
    assert len(in_run) == first["errors"]
    assert failed[0]["message_id"] in table
    again = json.loads(_ok("reprocess", "--business", business_id))
    assert again["messages_scanned"] == first["messages_scanned"]
    assert again["duplicates_skipped"] == first["messages_scanned"] - len(failed)  # only failed ones analysed again
    assert {f["message_id"] for f in json.loads(_ok("errors", "--business", business_id, "--json"))} == {
        f["message_id"] for f in failed
    }  # they fail the same way: nothing about them changed


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["errors"], "give either --business N or --run N"),
        (["errors", "--business", "424242"], "business 424242 does not exist"),
        (["errors", "--run", "424242"], "sync run 424242 not found"),
    ],
)
def test_errors_refuses_bad_requests_in_one_line(cli_env: dict[str, str], args: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env={**os.environ, **cli_env}, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert says in done.stderr and "Traceback" not in done.stderr
