"""Secrets at rest and on the command line (issue 13): an old encryption key can be retired with
`receipts rotate-key`, and a refresh token can be given on stdin or in a file instead of argv."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from cli import app
from models.db import session_scope
from models.mailbox import MailboxConnection
from models.queries.businesses import create_business
from receipt_sync.crypto import TokenCipher
from receipt_sync.errors import DecryptionError
from receipt_sync.settings import get_settings
from tests.factories import REFRESH_TOKEN

runner = CliRunner()


def _new_business() -> int:
    with session_scope() as session:
        return create_business(session, "Acme Ltd").id


def _stored_token(business_id: int) -> str:
    with session_scope() as session:
        mailbox = session.query(MailboxConnection).filter_by(business_id=business_id).one()
        return mailbox.encrypted_refresh_token or ""


def _use_keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", keys)
    get_settings.cache_clear()


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_connect_gmail_reads_the_refresh_token_from_stdin_or_a_file(
    sync_env: dict[str, str], tmp_path: Path, source: str
) -> None:
    business_id = _new_business()
    if source == "stdin":
        args, stdin = ["--refresh-token-file", "-"], REFRESH_TOKEN + "\n"
    else:
        secret = tmp_path / "token.txt"
        secret.write_text(REFRESH_TOKEN + "\n")
        args, stdin = ["--refresh-token-file", str(secret)], None
    result = runner.invoke(app, ["connect-gmail", "--business", str(business_id), *args], input=stdin)
    assert result.exit_code == 0, result.output
    assert REFRESH_TOKEN not in result.output
    assert TokenCipher(sync_env["ENCRYPTION_KEY"]).decrypt(_stored_token(business_id)) == REFRESH_TOKEN


def test_an_empty_refresh_token_file_is_one_line_error(sync_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    result = runner.invoke(app, ["connect-gmail", "--business", "1", "--refresh-token-file", str(empty)])
    assert result.exit_code != 0 and "no refresh token" in str(result.exception or result.output)


def test_rotate_key_lets_the_old_key_be_removed(
    sync_env: dict[str, str], connect_business: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = sync_env["ENCRYPTION_KEY"]
    business_id = connect_business()
    new = Fernet.generate_key().decode()
    _use_keys(monkeypatch, f"{new},{old}")

    result = runner.invoke(app, ["rotate-key"])

    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 refresh token" in result.output
    assert TokenCipher(new).decrypt(_stored_token(business_id)) == REFRESH_TOKEN
    with pytest.raises(DecryptionError):
        TokenCipher(old).decrypt(_stored_token(business_id))


def test_rotate_key_names_a_token_no_key_decrypts_and_fails(
    sync_env: dict[str, str], connect_business: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    business_id = connect_business()
    stored = _stored_token(business_id)
    _use_keys(monkeypatch, Fernet.generate_key().decode())  # the old key is gone already

    result = runner.invoke(app, ["rotate-key"])

    assert result.exit_code == 1
    assert "mailbox" in result.output and "reconnect" in result.output
    assert _stored_token(business_id) == stored  # left as it was
