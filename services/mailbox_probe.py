"""Is there anything to sync? One `getProfile` per mailbox (1 Gmail unit) instead of one flow run per mailbox.

The incremental round asks every idle mailbox for its current history id, in one process with bounded
concurrency, each through its own quota limiter (tasks/mailbox_probes.py), and starts a `gmail-sync` flow run only for
a mailbox that needs one: its history id moved since the last completed sync, it never completed one, its
last run failed, it is overdue, or it has sweep work pending (its business sweeps and a window walk is unfinished
or messages wait deferred in the ledger: one query for the whole round). Mailboxes in the last four cases are not
probed at all (they sync anyway).
Every probe is recorded on the mailbox (time, history id, error) so the API and `doctor` can show when a
mailbox was last checked, and so an unchanged mailbox counts as up to date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models.base import utcnow
from models.mailbox import MailboxConnection
from models.queries.mailboxes import active_gmail_probes, mailboxes_by_ids
from models.queries.sweep import mailboxes_with_sweep_work
from models.queries.sync_runs import latest_sync_run

PROBE_ERROR_LIMIT = 500
SWEEP_PENDING = "sweep work pending"


@dataclass(frozen=True)
class Candidate:
    """An idle business's mailbox, with what decides whether it needs a sync without asking Gmail."""

    business_id: int
    mailbox_id: int
    stored_history_id: str | None
    up_to_date_at: datetime | None
    last_run_failed: bool
    sweep_pending: bool = False


@dataclass(frozen=True)
class Probe:
    business_id: int
    mailbox_id: int
    history_id: str | None = None
    error: str | None = None
    auth_error: bool = False


@dataclass(frozen=True)
class Decision:
    business_id: int
    mailbox_id: int
    sync_reason: str | None  # None: unchanged, no flow run
    probe: Probe | None = None


def up_to_date_at(mailbox: MailboxConnection) -> datetime | None:
    """When the mailbox was last known complete: its last sync, or a later probe that found nothing new."""
    stored = (mailbox.sync_checkpoint or {}).get("history_id")
    confirmed = (
        mailbox.last_probed_at
        if mailbox.last_probe_error is None and stored and mailbox.last_probed_history_id == str(stored)
        else None
    )
    known = [t for t in (mailbox.last_synced_at, confirmed) if t is not None]
    return max(known) if known else None


def candidate(session: Session, mailbox: MailboxConnection) -> Candidate:
    last = latest_sync_run(session, mailbox.business_id)
    stored = (mailbox.sync_checkpoint or {}).get("history_id")
    return Candidate(
        mailbox.business_id,
        mailbox.id,
        str(stored) if stored else None,
        up_to_date_at(mailbox),
        last is not None and last.status == "failed",
    )


def with_sweep_work(session: Session, candidates: list[Candidate]) -> list[Candidate]:
    """The candidates, each marked whether its sweep has work pending (one query for all of them)."""
    pending = mailboxes_with_sweep_work(session, (c.mailbox_id for c in candidates))
    return [replace(c, sweep_pending=c.mailbox_id in pending) for c in candidates]


def reason_without_probe(c: Candidate, now: datetime, overdue_after: timedelta) -> str | None:
    """A sync is due whatever Gmail says: never completed, last run failed, overdue, or sweep work pending
    (an unfinished walk or deferred messages would otherwise wait until new mail arrives)."""
    if not c.stored_history_id:
        return "never completed a sync"
    if c.last_run_failed:
        return "its last run failed"
    if c.up_to_date_at is None or now - c.up_to_date_at > overdue_after:
        return "overdue"
    if c.sweep_pending:
        return SWEEP_PENDING
    return None


def split(candidates: Iterable[Candidate], overdue_after: timedelta) -> tuple[list[Decision], list[Candidate]]:
    """Decisions that need no probe (never synced, last run failed, overdue, sweep pending), and the candidates
    to probe."""
    now = utcnow()
    decisions: list[Decision] = []
    to_probe: list[Candidate] = []
    for c in candidates:
        reason = reason_without_probe(c, now, overdue_after)
        if reason:
            decisions.append(Decision(c.business_id, c.mailbox_id, reason))
        else:
            to_probe.append(c)
    return decisions, to_probe


def decide_from_probes(probed: list[Candidate], probes: list[Probe]) -> list[Decision]:
    """A sync for each probed mailbox whose history id moved (or whose probe failed)."""
    stored = {c.mailbox_id: c.stored_history_id for c in probed}
    return [Decision(p.business_id, p.mailbox_id, _reason_from_probe(p, stored), p) for p in probes]


def _reason_from_probe(probe: Probe, stored: dict[int, str | None]) -> str | None:
    if probe.auth_error:
        return None  # only the user reconnecting can fix it; the probe flags the mailbox
    if probe.error:
        return "the probe failed (the sync retries and reports it)"
    if probe.history_id != stored.get(probe.mailbox_id):
        return "history id moved"
    return None


def record_probes(session: Session, probes: Iterable[Probe], when: datetime | None = None) -> None:
    """Store each probe on its mailbox; a revoked token flags the mailbox `needs_reauth` at once."""
    when = when or utcnow()
    by_id = {p.mailbox_id: p for p in probes}
    if not by_id:
        return
    for mailbox in mailboxes_by_ids(session, by_id):
        probe = by_id[mailbox.id]
        mailbox.last_probed_at = when
        mailbox.last_probe_error = probe.error
        if probe.history_id:
            mailbox.last_probed_history_id = probe.history_id
        if probe.auth_error:
            mailbox.status = "needs_reauth"
            mailbox.status_reason = probe.error


def probe_summary(session: Session, now: datetime | None = None) -> str:
    """When the active Gmail mailboxes were last checked, for `receipts doctor`."""
    now = now or utcnow()
    rows = active_gmail_probes(session)
    if not rows:
        return "no active Gmail mailbox"
    probed = [at for at, _ in rows if at is not None]
    errors = sum(1 for _, error in rows if error)
    oldest = f", oldest probe {int((now - min(probed)).total_seconds())} s ago" if probed else ""
    return f"{len(rows)} active Gmail mailbox(es), {len(probed)} probed{oldest}, {errors} last probe(s) failed"
