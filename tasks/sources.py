"""Opening the mail source of a mailbox connection: decrypting its token here, never passing it around."""

from __future__ import annotations

import threading
from pathlib import Path

from models.db import session_scope
from models.mailbox import MailboxConnection
from receipt_sync.crypto import TokenCipher
from receipt_sync.errors import MailboxAuthError, MailboxNotConnected
from receipt_sync.mail.base import MailSource
from receipt_sync.settings import get_settings

_sources: dict[tuple[int, str], MailSource] = {}
_lock = threading.Lock()


def _build_source(mailbox: MailboxConnection) -> MailSource:
    settings = get_settings()
    if mailbox.provider == "mbox":
        from receipt_sync.mail.mbox import MboxSource

        return MboxSource(Path(mailbox.address), page_size=settings.mbox_page_size)
    if mailbox.provider == "gmail":
        from receipt_sync.mail.gmail import GmailSource

        if not mailbox.encrypted_refresh_token:
            raise MailboxAuthError(f"mailbox {mailbox.address} has no stored token: reconnect it")
        token = TokenCipher(settings.encryption_key).decrypt(mailbox.encrypted_refresh_token)
        return GmailSource(token, settings, address=mailbox.address)
    raise MailboxNotConnected(f"unknown mail provider {mailbox.provider!r}")


def mail_source(mailbox_id: int, run_key: str) -> MailSource:
    """The source for a mailbox, shared by the tasks of one run (`run_key`) in this process."""
    key = (mailbox_id, run_key)
    with _lock:
        source = _sources.get(key)
    if source is None:
        with session_scope() as session:
            mailbox = session.get(MailboxConnection, mailbox_id)
            if mailbox is None:
                raise MailboxNotConnected(f"mailbox {mailbox_id} no longer exists")
            source = _build_source(mailbox)
        with _lock:
            source = _sources.setdefault(key, source)
    return source


def release_sources(run_key: str) -> None:
    with _lock:
        keys = [k for k in _sources if k[1] == run_key]
        sources = [_sources.pop(k) for k in keys]
    for source in sources:
        source.close()
