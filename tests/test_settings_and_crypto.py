"""Settings fail fast with a line per bad variable, and stored tokens survive a key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from receipt_sync.crypto import TokenCipher
from receipt_sync.errors import ConfigurationError, DecryptionError
from receipt_sync.settings import load_settings


def test_each_malformed_setting_is_named_without_echoing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", "not-a-fernet-key-but-secret")
    monkeypatch.setenv("GMAIL_FETCH_COST", "cheap")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert "ENCRYPTION_KEY" in message and "GMAIL_FETCH_COST" in message
    assert "not-a-fernet-key-but-secret" not in message


def test_unsupported_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://db/receipts")
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        load_settings()


def test_embedded_defaults_live_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in ("DATABASE_URL", "STORAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/receipts.db"
    assert settings.resolved_storage_url == f"file://{tmp_path.resolve()}/documents"


def test_tokens_encrypted_under_an_old_key_still_decrypt_after_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher(old).encrypt("1//refresh-token")
    rotated_cipher = TokenCipher(f"{new},{old}")
    assert rotated_cipher.decrypt(stored) == "1//refresh-token"
    rotated = rotated_cipher.rotate(stored)
    assert TokenCipher(new).decrypt(rotated) == "1//refresh-token"
    assert "refresh-token" not in rotated


def test_a_token_from_an_unknown_key_gives_an_actionable_error() -> None:
    stored = TokenCipher(Fernet.generate_key().decode()).encrypt("secret")
    with pytest.raises(DecryptionError, match="reconnect"):
        TokenCipher(Fernet.generate_key().decode()).decrypt(stored)


def test_missing_key_says_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError, match="generate_key"):
        TokenCipher(None)
