"""Every refusal of the `receipts` command is one line that says what to do, a failing exit, no traceback.

Bad options are usage errors (exit 2) found before anything starts; the business and its mailbox are checked
before Prefect is involved; a refused `sync --deployment` leaves the database as it found it, on SQLite (the
embedded default) as on PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from typer.testing import Result

from cli import app
from models.db import dispose_engines, migrate, session_factory
from models.mailbox import MailboxConnection
from models.queries.businesses import create_business
from models.queries.mailboxes import connect_mailbox
from models.queries.sync_runs import create_sync_run
from models.runs import SyncRun
from receipt_sync.samples import generate_messages, write_mbox
from tests.cli.conftest import ROOT, runner
from tests.conftest import SettingsOverride


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused(result: Result, exit_code: int) -> str:
    """The one error line of a refused command (asserting the exit status and that nothing else was said)."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _env(override_settings: SettingsOverride, tmp_path: Path, database_url: str) -> None:
    override_settings(
        {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "STORAGE_URL": str(tmp_path / "data" / "documents"),
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            # Nothing listens here: a command that reached Prefect would fail with "unreachable", not hang.
            "PREFECT_API_URL": f"http://127.0.0.1:{_free_port()}/api",
        }
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path, override_settings: SettingsOverride) -> Iterator[str]:
    """The product's environment on the embedded default (SQLite) or on PostgreSQL, migrated."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/receipts.db"
        migrate(url)
    else:
        url = request.getfixturevalue("db_url")
    _env(override_settings, tmp_path, url)
    yield url
    dispose_engines()


def _business_with_mailbox(url: str, tmp_path: Path) -> int:
    with session_factory(url).begin() as session:
        business = create_business(session, "Refusals Ltd")
        connect_mailbox(session, business_id=business.id, provider="mbox", address=str(tmp_path / "x.mbox"))
        return business.id


def _runs(url: str, business_id: int) -> list[str]:
    with session_factory(url)() as session:
        return list(session.scalars(select(SyncRun.status).where(SyncRun.business_id == business_id)))


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_an_unknown_mode_is_a_usage_error_naming_the_choices(any_db: str, tmp_path: Path) -> None:
    business = str(_business_with_mailbox(any_db, tmp_path))
    line = refused(_invoke("sync", "--business", business, "--mode", "bogus"), 2)
    assert "'bogus' is not one of 'incremental', 'full', 'range'" in line and "receipts sync --help" in line


@pytest.mark.parametrize("deployment", [[], ["--deployment"]], ids=["in-process", "deployment"])
def test_a_range_without_dates_is_refused_before_anything_is_queued(
    any_db: str, tmp_path: Path, deployment: list[str]
) -> None:
    business_id = _business_with_mailbox(any_db, tmp_path)
    line = refused(_invoke("sync", "--business", str(business_id), "--mode", "range", *deployment), 2)
    assert "range needs both --from-date and --to-date" in line
    assert _runs(any_db, business_id) == []


def test_a_date_that_does_not_exist_is_a_usage_error(any_db: str, tmp_path: Path) -> None:
    business = str(_business_with_mailbox(any_db, tmp_path))
    args = ("sync", "--business", business, "--mode", "range", "--from-date", "2026-13-45", "--to-date", "2026-12-31")
    line = refused(_invoke(*args), 2)
    assert "'--from-date'" in line and "'2026-13-45' does not match the format" in line


def test_a_window_that_ends_before_it_starts_is_a_usage_error(any_db: str, tmp_path: Path) -> None:
    business = str(_business_with_mailbox(any_db, tmp_path))
    args = ("sync", "--business", business, "--mode", "range", "--from-date", "2026-12-01", "--to-date", "2026-01-01")
    assert "2026-12-01 is after --to-date 2026-01-01" in refused(_invoke(*args), 2)


def test_export_since_a_word_is_a_usage_error(any_db: str, tmp_path: Path) -> None:
    business = str(_business_with_mailbox(any_db, tmp_path))
    line = refused(_invoke("export", "--business", business, "--since", "yesterday"), 2)
    assert "'--since'" in line and "'yesterday' does not match the format" in line


def test_import_into_a_business_that_does_not_exist_names_the_way_to_find_it(any_db: str, tmp_path: Path) -> None:
    mbox = tmp_path / "Takeout.mbox"
    write_mbox(generate_messages(3, seed=1), mbox)
    line = refused(_invoke("import-mbox", str(mbox), "--business", "999"), 1)
    assert "business 999 does not exist" in line and "receipts business list" in line
    with session_factory(any_db)() as session:
        assert session.scalar(select(func.count()).select_from(MailboxConnection)) == 0


@pytest.mark.parametrize(
    "args",
    [("business", "list"), ("sync", "--business", "1"), ("export", "--business", "1"), ("runs",), ("migrate",)],
    ids=lambda a: " ".join(a),
)
def test_a_database_that_is_down_is_one_line_naming_database_url(
    args: tuple[str, ...], tmp_path: Path, override_settings: SettingsOverride
) -> None:
    _env(override_settings, tmp_path, f"postgresql://postgres:secret@127.0.0.1:{_free_port()}/receipts")
    try:
        line = refused(_invoke(*args), 1)
    finally:
        dispose_engines()
    assert "cannot reach the database postgresql://postgres:***@127.0.0.1" in line
    assert "check DATABASE_URL" in line and "secret" not in line


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (bytes(range(256)) * 8, "The file is not an email, a PDF, an HTML page or text: nothing could be read"),
        (b"%PDF-1.7\n1 0 obj\n<<", "The PDF could not be read: it is damaged ("),
    ],
    ids=["not-a-document", "damaged-pdf"],
)
def test_extract_says_why_a_file_could_not_be_read(tmp_path: Path, content: bytes, why: str) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(content)
    for args in (["extract", str(pdf)], ["extract", str(pdf), "--json"]):
        line = refused(_invoke(*args), 1)
        assert f"invoice.pdf: {why}" in line and "give a PDF" in line


def test_sync_through_the_deployment_while_a_run_is_queued_answers_like_the_apis_409(
    any_db: str, tmp_path: Path
) -> None:
    business_id = _business_with_mailbox(any_db, tmp_path)
    with session_factory(any_db)() as session:
        queued = create_sync_run(
            session, business_id=business_id, mailbox_id=None, mode="full", trigger="api", parameters={"mode": "full"}
        )
        session.commit()

    line = refused(_invoke("sync", "--business", str(business_id), "--mode", "full", "--deployment"), 1)

    assert f"a sync of business {business_id} is already queued" in line and f"run {queued.id}" in line
    assert _runs(any_db, business_id) == ["queued"]


def test_sync_through_the_deployment_with_prefect_unreachable_leaves_no_run_behind(any_db: str, tmp_path: Path) -> None:
    business_id = _business_with_mailbox(any_db, tmp_path)

    line = refused(_invoke("sync", "--business", str(business_id), "--mode", "full", "--deployment"), 1)

    assert "the Prefect API at http://127.0.0.1:" in line and "unreachable" in line
    assert "start the Prefect server" in line
    assert _runs(any_db, business_id) == []


def test_refusals_before_prefect_starts_say_one_line_from_the_installed_command(
    tmp_path: Path, override_settings: SettingsOverride
) -> None:
    """Run as a user does: no PREFECT_API_URL, so a command that reached Prefect would start a local server
    (and say so on stderr); a refused one prints its one line only."""
    url = f"sqlite:///{tmp_path}/receipts.db"
    migrate(url)
    _env(override_settings, tmp_path, url)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    for args, expected in (
        (["sync", "--business", "1", "--mode", "bogus"], "'bogus' is not one of"),
        (["sync", "--business", "1", "--mode", "range"], "range needs both --from-date and --to-date"),
        (["sync", "--business", "1", "--mode", "full"], "business 1 does not exist"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode != 0
        assert done.stderr.splitlines() == [done.stderr.strip()] and expected in done.stderr, done.stderr
    dispose_engines()
