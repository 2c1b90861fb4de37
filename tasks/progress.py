"""A run's progress between page commits: what its tasks have listed, fetched and analysed so far, in memory.

A page is committed in one transaction at its end, so the counters of the run record would move only then, and a
long page (a slow mailbox, 500 messages) would sit at 0 % for minutes. The page tasks report here as they go, and
the flow's reporter (`report_progress`) writes the percent, the messages fetched and the quota units spent to the
run record and the progress artifact every `SYNC_PROGRESS_SECONDS`. Fetched messages and quota units are kept
as running totals (started from the record, so a resumed run carries on), never as increments, so the reporter
and the page commit can both write them without counting anything twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from uuid import UUID

from prefect.artifacts import update_progress_artifact

from models.db import session_scope
from models.runs import SyncRun
from receipt_sync.polling import repeating
from tasks.sources import on_release


@dataclass
class RunProgress:
    """In-flight counts of one run in this process (thread-safe)."""

    fetched: int = 0  # messages fetched by the run (running total)
    units: int = 0  # Gmail quota units spent by the run (running total)
    estimate: int | None = None  # Gmail's size estimate of the listing, as soon as the first page is listed
    _in_flight: set[str] = field(default_factory=set)  # looked at (skipped or analysed), page not yet committed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def listed(self, estimate: int | None) -> None:
        with self._lock:
            self.estimate = self.estimate or estimate

    def looked_at(self, message_ids: Iterable[str]) -> None:
        with self._lock:
            self._in_flight.update(message_ids)

    def did_fetch(self, count: int) -> None:
        with self._lock:
            self.fetched += count

    def spent(self, units: int) -> None:
        with self._lock:
            self.units += units

    def committed(self, message_ids: Iterable[str]) -> None:
        """The page is stored: its messages now count in the record's own counters."""
        with self._lock:
            self._in_flight.difference_update(message_ids)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)


_runs: dict[str, RunProgress] = {}
_lock = threading.Lock()


def run_progress(run_id: int) -> RunProgress:
    """The run's progress in this process (started from its record on first use, dropped with its sources)."""
    key = str(run_id)
    with _lock:
        progress = _runs.get(key)
    if progress is not None:
        return progress
    with session_scope() as session:
        run = session.get(SyncRun, run_id)
        start = RunProgress(fetched=run.messages_fetched or 0, units=run.quota_units or 0) if run else RunProgress()
    with _lock:
        if key not in _runs:
            _runs[key] = start
            on_release(key, _drop)
        return _runs[key]


def _drop(run_key: str) -> None:
    with _lock:
        _runs.pop(run_key, None)


def write_live_progress(run_id: int) -> tuple[float, str]:
    """Write the in-flight numbers to the run record; returns (percent, a one-line description)."""
    progress = run_progress(run_id)
    with session_scope() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            return 0.0, ""
        run.messages_estimated = run.messages_estimated or progress.estimate
        run.messages_fetched = max(run.messages_fetched or 0, progress.fetched)
        run.quota_units = max(run.quota_units or 0, progress.units)
        looked_at = run.messages_scanned + progress.in_flight
        if run.messages_estimated:
            run.percent = max(run.percent or 0.0, min(99.0, round(100.0 * looked_at / run.messages_estimated, 1)))
        text = (
            f"{looked_at} of {run.messages_estimated or '?'} messages looked at, {run.messages_fetched} fetched, "
            f"{run.receipts_saved} receipts saved, {run.errors_count} errors"
        )
        return run.percent, text


def report_progress(run_id: int, artifact_id: UUID | None, every_seconds: float) -> AbstractContextManager[None]:
    """While the run works, write its in-flight progress every `every_seconds` from a thread.

    A missed report is made up on the next tick; the page commit is the truth."""
    last: tuple[float, str] | None = None

    def report() -> None:
        nonlocal last
        now = write_live_progress(run_id)
        if artifact_id is not None and now != last:
            update_progress_artifact(artifact_id, now[0], description=now[1])
        last = now

    return repeating(report, every=every_seconds, name=f"sync-run-{run_id}-progress")
