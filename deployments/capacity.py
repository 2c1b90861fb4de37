"""How much one worker machine runs at once, and how that capacity is split so nothing starves.

A flow run is a Python process with Prefect loaded (a CPU burst at start and while extracting PDFs); the rest of a sync
waits on Gmail. Two runs per core, bounded by memory at half a GB each, keeps a machine busy without the
stampede of starting every run at once (20 processes on 2 cores took 39 s to start the first one).
Incremental syncs get a queue served first, and long syncs (full/range) a concurrency limit below the
capacity, so a batch of first syncs always leaves room for the incremental round's small runs.
"""

from __future__ import annotations

import os

from receipt_sync.settings import Settings

RUNS_PER_CORE = 2
GB_PER_RUN = 0.5
INCREMENTAL_PRIORITY, LONG_SYNC_PRIORITY = 1, 10
LONG_SYNC_QUEUE = "default"


def machine_worker_limit(cpus: int | None = None, memory_gb: float | None = None) -> int:
    """Flow runs one worker on this machine should run at once (at least 2)."""
    cpus = cpus or os.cpu_count() or 1
    if memory_gb is None:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return max(2, min(RUNS_PER_CORE * cpus, int(memory_gb / GB_PER_RUN)))


def worker_limit(settings: Settings) -> int:
    return settings.worker_concurrency or machine_worker_limit()


def long_sync_limit(settings: Settings) -> int:
    """Long syncs allowed at once across the pool: the worker limit minus a quarter (at least one) kept free."""
    if settings.full_sync_concurrency:
        return settings.full_sync_concurrency
    limit = worker_limit(settings)
    return max(1, limit - max(1, limit // 4))
