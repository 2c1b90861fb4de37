"""Encryption of refresh tokens at rest: Fernet with rotation (newest key first, older keys still decrypt)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from receipt_sync.errors import ConfigurationError, DecryptionError


class TokenCipher:
    """Encrypts with the newest key; decrypts with any; `rotate` re-encrypts under the newest."""

    def __init__(self, keys: SecretStr | str | None) -> None:
        raw = keys.get_secret_value() if isinstance(keys, SecretStr) else keys
        parts = [k.strip() for k in (raw or "").split(",") if k.strip()]
        if not parts:
            raise ConfigurationError(
                "ENCRYPTION_KEY is not set: it is needed to store mailbox tokens encrypted. "
                "Make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            )
        self._fernet = MultiFernet([Fernet(p) for p in parts])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionError(
                "a stored token cannot be decrypted with any ENCRYPTION_KEY; "
                "add the key it was encrypted with, or reconnect the mailbox"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionError("a stored token cannot be decrypted with any ENCRYPTION_KEY") from None
