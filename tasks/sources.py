"""Opening the mail source of a mailbox connection: decrypting its token here, never passing it around."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from models.db import session_scope
from models.mailbox import MailboxConnection
from receipt_sync.crypto import TokenCipher
from receipt_sync.errors import MailboxAuthError, MailboxNotConnected
from receipt_sync.mail.base import MailSource
from receipt_sync.mail.files import FilesSource, is_mbox
from receipt_sync.mail.gmail import GmailSource
from receipt_sync.mail.mbox import MboxSource
from receipt_sync.mail.quota import MailboxQuota, mailbox_quota
from receipt_sync.settings import get_settings
from services.project_quota import project_quota

_sources: dict[tuple[int, str], MailSource] = {}
_release_hooks: dict[str, list[Callable[[str], None]]] = {}
_lock = threading.Lock()


def _build_source(mailbox: MailboxConnection) -> MailSource:
    settings = get_settings()
    if mailbox.provider == "mbox":  # a Takeout file, else a folder or file of documents (judged by content)
        path = Path(mailbox.address)
        if path.is_dir() or (path.is_file() and not is_mbox(path)):
            return FilesSource(path, page_size=settings.mbox_page_size)
        return MboxSource(Path(mailbox.address), page_size=settings.mbox_page_size)
    if mailbox.provider == "gmail":
        if not mailbox.encrypted_refresh_token:
            raise MailboxAuthError(f"mailbox {mailbox.address} has no stored token: reconnect it")
        token = TokenCipher(settings.encryption_key).decrypt(mailbox.encrypted_refresh_token)
        return GmailSource(token, settings, address=mailbox.address, limiter=gmail_quota(mailbox.id))
    raise MailboxNotConnected(f"unknown mail provider {mailbox.provider!r}")


def gmail_quota(mailbox_id: int) -> MailboxQuota:
    """The mailbox's quota limiter in this process (shared by every task of its runs), from settings."""
    settings = get_settings()
    project = None
    if settings.gmail_project_rate_limit:
        name, chunk = settings.gmail_project_limit_name, settings.gmail_project_chunk_units
        project = project_quota(name, settings.gmail_project_units_per_minute, chunk)
    units, in_flight = settings.gmail_quota_units_per_minute, settings.gmail_max_in_flight
    return mailbox_quota(f"mailbox-{mailbox_id}", units, in_flight, project)


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


def quota_units(source: MailSource, method: str, count: int = 1) -> int:
    """Gmail quota units of `count` calls of `method` (`fetch`, `list`, `history`, `profile`); 0 for an mbox."""
    if not isinstance(source, GmailSource):
        return 0
    settings = get_settings()
    costs = {
        "fetch": settings.gmail_fetch_cost,
        "list": settings.gmail_list_cost,
        "history": settings.gmail_history_cost,
        "profile": settings.gmail_profile_cost,
    }
    return costs[method] * count


def on_release(run_key: str, hook: Callable[[str], None]) -> None:
    """Call `hook(run_key)` when the run's sources are released (e.g. to stop its read-ahead)."""
    with _lock:
        _release_hooks.setdefault(run_key, []).append(hook)


def release_sources(run_key: str) -> None:
    with _lock:
        keys = [k for k in _sources if k[1] == run_key]
        sources = [_sources.pop(k) for k in keys]
        hooks = _release_hooks.pop(run_key, [])
    for hook in hooks:
        hook(run_key)
    for source in sources:
        source.close()
