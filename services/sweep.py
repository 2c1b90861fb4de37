"""The sweep as the API and the CLI see it: is it on for a business, how far has it read, and stepping aside.

After the receipt query's messages, syncs read the rest of the mailbox at low priority (tasks/sweep.py). A
sync someone asks for (API, CLI) must not wait behind that: a run whose own pages are done and which is only
sweeping completes at once, its sweep marked `yielded`; it stops fetching within a few messages, keeps its
place, and a later sync resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from models.queries.businesses import get_business
from models.queries.mailboxes import mailbox_for_business
from models.queries.sweep import count_deferred, last_walk_finished, set_sweep_enabled
from models.queries.sync_runs import active_sync_run, finish_run, latest_sync_run
from models.runs import SyncRun
from receipt_sync.errors import MailboxNotConnected
from receipt_sync.jsontypes import JsonObject


@dataclass(frozen=True)
class SweepState:
    """A business's sweep: switched on or off, where its walk is, what waits for it."""

    business_id: int
    enabled: bool
    state: str  # off | not_started | in_progress | done
    window_after: str | None  # the window being walked (ISO datetimes), when a walk is pending
    window_before: str | None
    messages_listed: int  # of the walk so far
    messages_estimated: int | None  # the mailbox's size when the walk started
    percent: float | None
    deferred_messages: int  # new mail the receipt query did not match, read first by the next sweep
    completed_at: datetime | None  # when a walk last finished
    last_run_id: int | None
    last_run_sweep_status: str | None  # pending | running | yielded | done | off

    def as_dict(self) -> JsonObject:
        """The state as JSON: the CLI prints it, the API validates its `SweepPublic` from it."""
        data = dict(self.__dict__)
        data["completed_at"] = self.completed_at.isoformat() if self.completed_at else None
        return data


def yield_sweep(session: Session, business_id: int) -> SyncRun | None:
    """Complete the business's active run if it is only sweeping (its sweep resumes in a later run)."""
    active = active_sync_run(session, business_id)
    if active is None or active.status != "running" or active.sweep_status != "running":
        return None
    active.sweep_status = "yielded"
    finish_run(session, active, "completed")
    session.flush()
    return active


def sweep_state(session: Session, business_id: int) -> SweepState:
    business = get_business(session, business_id)
    try:
        walk = mailbox_for_business(session, business_id).sweep_cursor
    except MailboxNotConnected:
        walk = None
    walk = walk or {}
    completed_at = last_walk_finished(session, business_id)
    deferred = count_deferred(session, business_id)
    last = latest_sync_run(session, business_id)
    listed, estimate = int(walk.get("listed") or 0), walk.get("estimate")
    if not business.sweep_enabled:
        state = "off"
    elif walk or deferred:
        state = "in_progress"
    else:
        state = "done" if completed_at else "not_started"
    percent = min(99.0, round(100.0 * listed / estimate, 1)) if walk and estimate else None
    return SweepState(
        business_id=business_id,
        enabled=business.sweep_enabled,
        state=state,
        window_after=walk.get("after"),
        window_before=walk.get("before"),
        messages_listed=listed,
        messages_estimated=estimate,
        percent=100.0 if state == "done" else percent,
        deferred_messages=deferred,
        completed_at=completed_at,
        last_run_id=last.id if last else None,
        last_run_sweep_status=last.sweep_status if last else None,
    )


def switch_sweep(session: Session, business_id: int, enabled: bool) -> SweepState:
    """Turn the business's sweep on or off; a run sweeping now stops within a few messages, keeping its place."""
    get_business(session, business_id)
    set_sweep_enabled(session, business_id, enabled)
    active = active_sync_run(session, business_id)
    if not enabled and active is not None and active.sweep_status == "running":
        active.sweep_status = "off"  # it stops within a few messages, keeping its place
    session.flush()
    return sweep_state(session, business_id)
