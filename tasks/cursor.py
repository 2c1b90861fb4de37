"""Where a page of a sync starts: the value the page tasks take and return, and the run's checkpoint stores.

It travels between the tasks and the flow as this frozen dataclass, and is stored as JSON (`to_dict`) in the
run's checkpoint; `from_dict` reads a stored one back (keys it does not know are ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from models.mailbox import WalkCursor
from receipt_sync.jsontypes import JsonObject

SWEEP_PHASES = ("deferred", "sweep")


@dataclass(frozen=True)
class MailboxCursor:
    """Where the next page starts: a listing page token (`full`; `sweep`: the whole window, no query), a history
    position (`history`), or the ledger row after which the messages left to the sweep continue (`deferred`)."""

    phase: str  # "full" | "history" | "deferred" | "sweep"
    business_id: int
    mailbox_id: int
    page_token: str | None = None
    start_history_id: str | None = None
    after: str | None = None
    before: str | None = None
    query: str | None = None
    remaining: int | None = None
    retry_failed: bool = False  # reprocessing: fetch again the messages that failed before

    @property
    def sweep(self) -> bool:
        """A page of the sweep (the mail the receipt query did not list)."""
        return self.phase in SWEEP_PHASES

    def to_dict(self) -> JsonObject:
        """The cursor as the run's checkpoint stores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MailboxCursor:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    @classmethod
    def stored(cls, data: Mapping[str, object] | None) -> MailboxCursor | None:
        """A cursor read back from a checkpoint, where None (JSON null) means nothing is left to list."""
        return cls.from_dict(data) if data else None


def sweep_cursor(business_id: int, mailbox_id: int, walk: WalkCursor) -> MailboxCursor:
    """The cursor of the next page of a window walk (the mailbox's `sweep_cursor`): every message, no query."""
    return MailboxCursor(
        phase="sweep",
        business_id=business_id,
        mailbox_id=mailbox_id,
        page_token=walk.get("page_token"),
        after=walk.get("after"),
        before=walk.get("before"),
    )
