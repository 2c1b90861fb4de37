"""The `receipts` command as a user runs it: its output contracts (SPEC §8) and its errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from models.db import session_scope
from models.queries.tokens import authenticate
from receipt_sync.samples import generate_messages
from tests.cli.conftest import ROOT, Imported, ok
from tests.conftest import SettingsOverride

CONTRACT = ["is_receipt", "confidence", "vendor", "total", "currency", "date", "document_number", "reasons"]


def test_business_and_token_create_print_what_the_user_needs(cli_env: dict[str, str]) -> None:
    business_id = int(ok("business", "create", "--name", "Acme Ltd").strip())
    token = ok("token", "create", "--business", str(business_id)).strip()
    with session_scope() as session:
        found = authenticate(session, token)
        assert found is not None and found.business_id == business_id and found.role == "member"


def test_imported_mbox_exports_its_receipts_in_the_json_and_csv_contracts(imported: Imported) -> None:
    business_id, messages, summary = imported.business_id, imported.messages, imported.summary
    exported = json.loads(ok("export", "--business", business_id, "--format", "json"))

    well_formed = [m for m in messages if m.truth.kind != "malformed"]
    expected_totals = sorted(m.truth.total for m in well_formed if m.truth.is_receipt)
    assert summary["receipts_saved"] == len(exported)
    assert {r["total"] for r in exported} >= set(expected_totals)
    for row in exported:
        assert set(CONTRACT) | {"id", "source_message_id", "received_at", "subject", "sender", "status"} <= set(row)
    rows = list(csv.DictReader(io.StringIO(ok("export", "--business", business_id, "--format", "csv"))))
    assert len(rows) == len(exported)


def test_extract_json_prints_the_contract_for_an_email(tmp_path: Path) -> None:
    receipt = next(m for m in generate_messages(40, seed=5) if m.truth.is_receipt and m.truth.language == "he")
    eml = tmp_path / "receipt.eml"
    eml.write_bytes(receipt.raw)

    result = json.loads(ok("extract", str(eml), "--json"))

    assert list(result) == CONTRACT
    assert result["is_receipt"] is True
    assert result["total"] == receipt.truth.total and result["currency"] == receipt.truth.currency
    assert result["date"] == receipt.truth.date
    assert result["reasons"]


def test_extract_says_whether_a_full_sync_would_list_the_email_at_all(
    tmp_path: Path, override_settings: SettingsOverride
) -> None:
    mailbox = generate_messages(80, seed=5)
    emails = {}
    for name, message in (
        ("receipt", next(m for m in mailbox if m.truth.is_receipt)),
        ("personal", next(m for m in mailbox if m.truth.kind == "personal")),
    ):
        emails[name] = tmp_path / f"{name}.eml"
        emails[name].write_bytes(message.raw)

    def said(name: str) -> str:
        return " ".join(ok("extract", str(emails[name])).split())

    override_settings({"GMAIL_RECEIPT_QUERY": None})
    assert "(GMAIL_RECEIPT_QUERY) lists this email" in said("receipt")
    assert "would NOT list this email" in said("personal")
    override_settings({"GMAIL_RECEIPT_QUERY": ""})
    assert "syncs list every message" in said("personal")


def test_a_domain_error_is_one_readable_line_and_a_failing_exit(cli_env: dict[str, str]) -> None:
    env = {**os.environ, **cli_env}
    business_id = ok("business", "create", "--name", "No Mailbox Ltd").strip()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "sync", "--business", business_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no connected mailbox" in done.stderr
    assert "Traceback" not in done.stderr
