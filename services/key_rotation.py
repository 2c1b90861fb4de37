"""Retire an old encryption key: re-encrypt every stored refresh token under the newest ENCRYPTION_KEY.

ENCRYPTION_KEY lists keys newest first; tokens encrypted under an older key still decrypt, so an old key can be
removed only once nothing needs it. `receipts rotate-key` re-encrypts each stored token under the newest key in
one transaction; a token no key decrypts is left as it is and named (its mailbox must be reconnected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from models.db import session_scope
from models.mailbox import MailboxConnection
from receipt_sync.crypto import TokenCipher
from receipt_sync.errors import DecryptionError
from receipt_sync.settings import get_settings


@dataclass
class RotationReport:
    rotated: int = 0
    undecryptable: list[int] = field(default_factory=list)  # mailbox ids


def rotate_refresh_tokens() -> RotationReport:
    """Re-encrypt every stored refresh token under the newest key (idempotent)."""
    cipher = TokenCipher(get_settings().encryption_key)
    report = RotationReport()
    with session_scope() as session:
        stmt = select(MailboxConnection).where(MailboxConnection.encrypted_refresh_token.isnot(None)).with_for_update()
        for mailbox in session.scalars(stmt):
            try:
                mailbox.encrypted_refresh_token = cipher.rotate(mailbox.encrypted_refresh_token or "")
            except DecryptionError:
                report.undecryptable.append(mailbox.id)
                continue
            report.rotated += 1
    return report
