"""What every mail source offers the sync: pages of message ids, and the raw RFC 822 bytes of messages.

Gmail (through googleapiclient) and a Google Takeout `.mbox` file both implement `MailSource`, so one flow
syncs either. Sources raise the domain errors of `receipt_sync.errors`: `MailboxAuthError` (never retried),
`TransientMailError` (retried with back-off), `HistoryExpiredError` (fall back to a full sync),
`PermanentMailError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: ids newest first, the token of the next page, Gmail's size estimate."""

    message_ids: list[str]
    next_page_token: str | None
    result_size_estimate: int | None = None


@dataclass(frozen=True)
class HistoryPage:
    """Ids of messages added since a history id, and the history id to store once all pages are done."""

    message_ids: list[str]
    next_page_token: str | None
    history_id: str | None


@dataclass(frozen=True)
class RawMessage:
    id: str
    raw: bytes
    thread_id: str | None = None
    internal_date: datetime | None = None
    label_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FetchFailure:
    """A message that could not be fetched (gone, or a permanent error): it fails alone."""

    id: str
    error: str


class MailSource(Protocol):
    def current_history_id(self) -> str | None:
        """The mailbox's current history id (Gmail `getProfile`), or None where there is no history."""

    def list_messages(
        self,
        *,
        page_token: str | None,
        after: datetime | None = None,
        before: datetime | None = None,
        query: str | None = None,
        page_size: int = 500,
    ) -> ListPage:
        """One page of message ids in the window `[after, before)`, narrowed by `query` where supported."""

    def list_history(self, *, start_history_id: str, page_token: str | None) -> HistoryPage:
        """Messages added since `start_history_id`; raises `HistoryExpiredError` when Gmail forgot it."""

    def fetch_messages(self, ids: Sequence[str]) -> list[RawMessage | FetchFailure]:
        """The raw messages for `ids`, in the same order; failures are returned, not raised."""

    def close(self) -> None: ...


class WithoutHistory:
    """A local source (an mbox file, a folder of documents) has no change history: every sync is a full pass."""

    def current_history_id(self) -> str | None:
        return None

    def list_history(self, *, start_history_id: str, page_token: str | None) -> HistoryPage:
        raise NotImplementedError(f"{type(self).__name__} has no change history; run a full sync instead")
