"""Reading a run's pages ahead: the next page is listed and fetched while the current one is analysed and stored.

One `RunPipeline` per run in a process, shared by its page tasks. It keeps at most `depth` pages ahead of the
page being stored (bounded memory: a page is at most `GMAIL_PAGE_SIZE` messages), and a page stays cached
until its data is committed, so a retried page task reuses what was fetched instead of spending quota again.
It also remembers which messages this run has fetched, so a message listed twice (history records, a listing
shifted by new mail) is fetched once per run. The checkpoint still moves only when a page commits.

A sweep page (the mail the receipt query did not list) is fetched a few messages at a time, and stops fetching
as soon as its run is asked to yield (a sync someone asked for needs the mailbox): the page keeps what it has,
and the sweep resumes from that page later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from models.db import session_scope
from models.queries.ingest import already_processed
from models.queries.sweep import sweep_yield_requested
from receipt_sync.mail.base import FetchFailure, RawMessage
from receipt_sync.settings import get_settings
from tasks.cursor import MailboxCursor
from tasks.progress import run_progress
from tasks.sources import mail_source, on_release, quota_units

SWEEP_STEP = 10  # sweep messages fetched between two checks for a yield request (~2 s at 5 fetches a second)


@dataclass
class FetchedPage:
    """A listed page: its ids, which were skipped (stored before, or fetched earlier this run), what was fetched."""

    ids: list[str]
    next_token: str | None
    estimate: int | None
    history_id: str | None
    skipped: set[str] = field(default_factory=set)
    fetched: list[RawMessage | FetchFailure] = field(default_factory=list)
    retry_failed: bool = False  # reprocessing: messages that failed before are fetched again, not skipped
    sweep: bool = False  # a sweep page: fetching stops when the run is asked to yield
    stopped: bool = False  # ... and it did: only part of the page was fetched
    deferred: list[str] = field(default_factory=list)  # new mail the receipt query did not list: for the sweep


Lister = Callable[[MailboxCursor], FetchedPage]  # lists the page at a cursor (tasks/sync_pages.py)


class RunPipeline:
    """The read-ahead of one run: list → skip stored → fetch, one page ahead of analysis and storage."""

    def __init__(self, run_id: int, mailbox_id: int, business_id: int, depth: int = 1) -> None:
        self.run_id, self.mailbox_id, self.business_id, self.depth = run_id, mailbox_id, business_id, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"read-ahead-{run_id}")
        self._pages: dict[MailboxCursor, Future[FetchedPage]] = {}  # a frozen cursor is its page's key
        self._lock = threading.Lock()
        self._fetched_ids: set[str] = set()
        self.fetch_count = 0

    def take(self, cursor: MailboxCursor, lister: Lister) -> FetchedPage:
        """The page at `cursor`: read ahead already, cached by an earlier attempt, or read now."""
        with self._lock:
            future = self._pages.get(cursor)
        if future is None:
            page = self._read(cursor, lister)
            with self._lock:
                self._pages[cursor] = _resolved(page)
            return page
        try:
            return future.result()
        except BaseException:
            with self._lock:
                self._pages.pop(cursor, None)  # a retry reads it afresh
            raise

    def read_ahead(self, cursor: MailboxCursor, lister: Lister) -> None:
        """Start reading the page at `cursor` in the background (no-op when already there or too far ahead)."""
        with self._lock:
            if cursor in self._pages or len(self._pages) > self.depth:
                return
            self._pages[cursor] = self._pool.submit(self._read, cursor, lister)

    def committed(self, cursor: MailboxCursor) -> None:
        """The page's data is stored: forget it (its memory is freed)."""
        with self._lock:
            self._pages.pop(cursor, None)

    def close(self) -> None:
        with self._lock:
            self._pages.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, cursor: MailboxCursor, lister: Lister) -> FetchedPage:
        page = lister(cursor)
        progress = run_progress(self.run_id)
        progress.listed(page.estimate)
        with session_scope() as session:
            stored = already_processed(session, self.business_id, page.ids, retry_failed=page.retry_failed)
        with self._lock:
            page.skipped = stored | (set(page.ids) & self._fetched_ids)
        progress.looked_at(page.skipped)
        fresh = [i for i in page.ids if i not in page.skipped]
        page.fetched = self._fetch(fresh, self.yield_requested if page.sweep else None)
        page.stopped = len(page.fetched) < len(fresh)
        with self._lock:
            self._fetched_ids.update(item.id for item in page.fetched)
            self.fetch_count += len(page.fetched)
        return page

    def yield_requested(self) -> bool:
        """Whether the run's sweep was asked to stop (read from the run record: another process may ask)."""
        with session_scope() as session:
            return sweep_yield_requested(session, self.run_id)

    def _fetch(self, ids: list[str], stop: Callable[[], bool] | None = None) -> list[RawMessage | FetchFailure]:
        """Fetch in batch-sized slices (one batch request each), so progress moves while a page is fetched; a
        sweep page checks `stop` before each smaller slice and returns what it has when told to stop."""
        source = mail_source(self.mailbox_id, str(self.run_id))
        progress = run_progress(self.run_id)
        step = get_settings().gmail_batch_size if stop is None else min(get_settings().gmail_batch_size, SWEEP_STEP)
        fetched: list[RawMessage | FetchFailure] = []
        for start in range(0, len(ids), step):
            if stop is not None and stop():
                break
            chunk = ids[start : start + step]
            fetched.extend(source.fetch_messages(chunk))
            progress.did_fetch(len(chunk))
            progress.spent(quota_units(source, "fetch", len(chunk)))
        return fetched


def _resolved(page: FetchedPage) -> Future[FetchedPage]:
    future: Future[FetchedPage] = Future()
    future.set_result(page)
    return future


_pipelines: dict[str, RunPipeline] = {}
_registry_lock = threading.Lock()


def run_pipeline(run_id: int, mailbox_id: int, business_id: int) -> RunPipeline:
    """The run's pipeline in this process (created on first use, closed with the run's sources)."""
    key = str(run_id)
    with _registry_lock:
        pipeline = _pipelines.get(key)
        if pipeline is None:
            pipeline = _pipelines[key] = RunPipeline(run_id, mailbox_id, business_id)
            on_release(key, _release)
        return pipeline


def _release(run_key: str) -> None:
    with _registry_lock:
        pipeline = _pipelines.pop(run_key, None)
    if pipeline is not None:
        pipeline.close()
