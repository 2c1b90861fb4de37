"""The project-wide Gmail quota (1.2 M units a minute across all mailboxes), shared by every worker.

A Prefect global concurrency limit with slot decay (`prefect.concurrency.sync.rate_limit`), taken in chunks of
units so it costs one Prefect API call per chunk, not per message. It is the `UnitSource` a
`receipt_sync.mail.quota.MailboxQuota` draws from; it lives here so the domain package imports no Prefect.
"""

from __future__ import annotations

import threading

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit

from receipt_sync.retry import retrying

_projects: dict[str, ProjectQuota] = {}
_registry_lock = threading.Lock()


class ProjectQuota:
    """The project-wide quota through a Prefect global concurrency limit with slot decay (one slot = one unit).

    The limit holds `burst` slots and frees `(units_per_minute - burst) / 60` a second, so no 60 s window can
    see more than `units_per_minute` units whichever workers spend them. Units are taken from Prefect in
    chunks of `chunk` and drawn down locally.
    """

    def __init__(self, name: str, units_per_minute: int, chunk: int = 1000) -> None:
        self.name = name
        self.units_per_minute = units_per_minute
        self.burst = max(chunk, units_per_minute // 20)
        self.chunk = min(chunk, self.burst)
        self._credit = 0
        self._lock = threading.Lock()
        self._ready = False
        self.acquisitions = 0

    @property
    def decay_per_second(self) -> float:
        return max(1.0, (self.units_per_minute - self.burst) / 60.0)

    def ensure_limit(self) -> None:
        """Create (or update) the limit: Prefect limits nothing for a limit that does not exist."""
        if self._ready:
            return
        # The upsert is not atomic: two workers creating the limit at once may collide; the one retry policy.
        for attempt in retrying(Exception, base=0.2, attempts=3, cap=1.0):
            with attempt, get_client(sync_client=True) as client:
                client.upsert_global_concurrency_limit_by_name(
                    self.name, limit=self.burst, slot_decay_per_second=self.decay_per_second
                )
        self._ready = True

    def take(self, units: int) -> None:
        """Draw `units` from the local credit, buying chunks from Prefect (blocking) when it runs out."""
        with self._lock:
            self.ensure_limit()
            while self._credit < units:
                rate_limit(self.name, occupy=self.chunk, strict=True)
                self._credit += self.chunk
                self.acquisitions += 1
            self._credit -= units


def project_quota(name: str, units_per_minute: int, chunk: int) -> ProjectQuota:
    """The process's handle on the project-wide Prefect rate limit `name`."""
    with _registry_lock:
        quota = _projects.get(name)
        if quota is None or (quota.units_per_minute, quota.chunk) != (units_per_minute, min(chunk, quota.burst)):
            quota = _projects[name] = ProjectQuota(name, units_per_minute, chunk)
        return quota
