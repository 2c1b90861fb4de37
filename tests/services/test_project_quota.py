"""The project-wide quota: one Prefect rate limit that every worker's handle draws from."""

from __future__ import annotations

import threading
import time

from services.project_quota import ProjectQuota


def test_project_quota_is_shared_by_every_worker_through_prefect(prefect_api_url: str) -> None:
    """Two handles on one Prefect rate limit (two workers) together stay within the project's units."""
    name = f"gmail-project-test-{time.monotonic_ns()}"
    workers = [ProjectQuota(name, units_per_minute=12_000, chunk=60) for _ in range(2)]
    taken = [0, 0]
    deadline = time.monotonic() + 6
    started = time.monotonic()

    def spend(index: int) -> None:
        while time.monotonic() < deadline:
            workers[index].take(20)
            taken[index] += 20

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    allowed = workers[0].burst + workers[0].decay_per_second * elapsed + 2 * workers[0].chunk
    assert 0 < sum(taken) <= allowed
    assert all(t > 0 for t in taken)  # both workers got a share
    assert sum(w.acquisitions for w in workers) * 60 >= sum(taken)  # one Prefect call per 60-unit chunk
