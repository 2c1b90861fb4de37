"""`receipts errors` and `receipts reprocess`: failed messages listed for people, and tried again on request."""

from __future__ import annotations

import json

import pytest

from cli import app
from tests.cli.conftest import Imported, ok, runner


def test_errors_lists_a_business_s_and_a_run_s_failed_messages_and_reprocess_tries_them_again(
    imported: Imported,
) -> None:
    business_id, first = imported.business_id, imported.summary

    failed = json.loads(ok("errors", "--business", business_id, "--json"))
    in_run = json.loads(ok("errors", "--run", str(first["sync_run_id"]), "--json"))
    table = ok("errors", "--business", business_id)

    assert failed and all(f["message_id"] and f["error"] and f["kind"] == "permanent" for f in failed)
    assert {f["message_id"] for f in failed} <= {e["message_id"] for e in in_run}
    assert len(in_run) == first["errors"]
    assert failed[0]["message_id"] in table
    again = json.loads(ok("reprocess", "--business", business_id))
    assert again["messages_scanned"] == first["messages_scanned"]
    assert again["duplicates_skipped"] == first["messages_scanned"] - len(failed)  # only failed ones analysed again
    assert {f["message_id"] for f in json.loads(ok("errors", "--business", business_id, "--json"))} == {
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
    # In this process: the installed command's own refusals are tests/cli/test_errors.py's last test.
    done = runner.invoke(app, args)
    assert done.exit_code != 0
    assert says in done.stderr and "Traceback" not in done.output
