"""Probing mailboxes: one `getProfile` each (1 Gmail unit), many at once in this process, none raising."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from receipt_sync.errors import MailboxAuthError
from services.mailbox_probe import PROBE_ERROR_LIMIT, Candidate, Probe
from tasks.sources import mail_source, release_sources


def probe_one(c: Candidate, run_key: str) -> Probe:
    """The mailbox's history id through its own source and quota limiter; an error is returned, not raised."""
    try:
        history_id = mail_source(c.mailbox_id, run_key).current_history_id()
    except MailboxAuthError as exc:
        return Probe(c.business_id, c.mailbox_id, error=str(exc)[:PROBE_ERROR_LIMIT], auth_error=True)
    except Exception as exc:  # one mailbox's failure must not stop the round: it gets a sync, which retries
        return Probe(c.business_id, c.mailbox_id, error=f"{type(exc).__name__}: {exc}"[:PROBE_ERROR_LIMIT])
    return Probe(c.business_id, c.mailbox_id, history_id=history_id)


def probe_all(candidates: list[Candidate], concurrency: int, run_key: str) -> list[Probe]:
    """Probe every candidate, at most `concurrency` at a time; releases the sources it opened."""
    if not candidates:
        return []
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(candidates)))) as pool:
            return list(pool.map(lambda c: probe_one(c, run_key), candidates))
    finally:
        release_sources(run_key)
