"""The sweep's state: whether a business sweeps, where its mailbox's walk is, its backlog of deferred messages,
and whether a run's sweep was asked to yield (services/sweep.py holds the use case)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, cast, exists, func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.business import Business
from models.ledger import DEFERRED, ProcessedMessage
from models.mailbox import MailboxConnection, WalkCursor
from models.runs import SyncRun


def sweep_enabled(session: Session, business_id: int) -> bool:
    return bool(session.scalar(select(Business.sweep_enabled).where(Business.id == business_id)))


def deferred_page(session: Session, business_id: int, after_row: int, limit: int) -> tuple[list[str], int | None]:
    """Up to `limit` message ids left to the sweep, oldest first, after ledger row `after_row` (keyset), and
    the last row's id (None when there were none)."""
    pm = ProcessedMessage
    rows = session.execute(
        select(pm.id, pm.message_id)
        .where(pm.business_id == business_id, pm.outcome == DEFERRED, pm.id > after_row)
        .order_by(pm.id)
        .limit(limit)
    ).all()
    return [r.message_id for r in rows], (rows[-1].id if rows else None)


def count_deferred(session: Session, business_id: int) -> int:
    pm = ProcessedMessage
    return session.scalar(select(func.count()).where(pm.business_id == business_id, pm.outcome == DEFERRED)) or 0


def start_walk(
    session: Session, mailbox: MailboxConnection, after: str | None, before: str, estimate: int | None
) -> WalkCursor:
    """Begin walking the window `[after, before)` from its newest message."""
    mailbox.sweep_cursor = {
        "after": after,
        "before": before,
        "page_token": None,
        "listed": 0,
        "estimate": estimate,
        "started_at": utcnow().isoformat(),
    }
    return mailbox.sweep_cursor


def advance_walk(session: Session, mailbox_id: int, page_token: str | None, listed: int, estimate: int | None) -> None:
    """A committed page of the walk: keep its place (the next page's token), or end it (token None)."""
    mailbox = session.get(MailboxConnection, mailbox_id)
    if mailbox is None or mailbox.sweep_cursor is None:
        return
    if page_token is None:
        mailbox.sweep_cursor, mailbox.sweep_completed_at = None, utcnow()
        return
    cursor: WalkCursor = {**mailbox.sweep_cursor}
    cursor["page_token"], cursor["listed"] = page_token, int(cursor.get("listed") or 0) + listed
    cursor["estimate"] = cursor.get("estimate") or estimate
    mailbox.sweep_cursor = cursor


def sweep_yield_requested(session: Session, run_id: int) -> bool:
    """Whether the run's sweep must stop: a sync was asked for (it yielded), the business switched it off, or
    the run was ended."""
    row = session.execute(select(SyncRun.status, SyncRun.sweep_status).where(SyncRun.id == run_id)).first()
    return row is None or row.status != "running" or row.sweep_status in ("yielded", "off")


def set_sweep_enabled(session: Session, business_id: int, enabled: bool) -> Business | None:
    business = session.get(Business, business_id)
    if business is not None:
        business.sweep_enabled = enabled
    return business


def last_walk_finished(session: Session, business_id: int) -> datetime | None:
    return session.scalar(
        select(func.max(MailboxConnection.sweep_completed_at)).where(MailboxConnection.business_id == business_id)
    )


def walk_cursor(session: Session, mailbox_id: int) -> WalkCursor | None:
    """The mailbox's pending window walk, or None."""
    mailbox = session.get(MailboxConnection, mailbox_id)
    return {**mailbox.sweep_cursor} if mailbox is not None and mailbox.sweep_cursor else None


def mailboxes_with_sweep_work(session: Session, mailbox_ids: Iterable[int]) -> set[int]:
    """Which of these mailboxes have sweep work waiting: their business sweeps and either a window walk is
    unfinished or the ledger holds messages deferred to the sweep. One query for a whole incremental round, so
    an unchanged mailbox with a yielded, failed or unfinished sweep is not left until new mail arrives."""
    ids = list(mailbox_ids)
    if not ids:
        return set()
    mc, pm = MailboxConnection, ProcessedMessage
    # A finished walk sets the cursor to None, which the JSON column may store as JSON `null`, not SQL NULL.
    walk_pending = func.coalesce(cast(mc.sweep_cursor, String), "null") != "null"
    backlog = exists().where(pm.business_id == mc.business_id, pm.outcome == DEFERRED)
    return set(
        session.scalars(
            select(mc.id)
            .join(Business, Business.id == mc.business_id)
            .where(mc.id.in_(ids), Business.sweep_enabled.is_(True), walk_pending | backlog)
        )
    )
