"""Is the job machinery working? The database, the Prefect API, the work pool and its workers, in one view.

The API's `/api/jobs/health` and `/api/receipts/queue/diagnostics` show it (members see only whether it works);
an unreachable Prefect is part of the answer, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from models.db import session_scope
from receipt_sync.errors import OrchestratorUnavailable
from receipt_sync.settings import Settings
from services import prefect_access
from services.prefect_access import WorkerConfig


@dataclass(frozen=True)
class JobHealth:
    ok: bool
    database_ok: bool
    config: WorkerConfig | None  # None: the Prefect API did not answer
    prefect_error: str | None = None
    action: str | None = None  # what to do about an unreachable Prefect API

    @property
    def critical(self) -> list[str]:
        """What stops syncs from running, each with what to do."""
        checks = [] if self.database_ok else ["database unreachable"]
        if self.config is None:
            checks.append(f"Prefect API unreachable: {self.action}")
        elif not self.config.pool.online_workers:
            checks.append(f"no worker online: {prefect_access.worker_action(self.config.pool.name)}")
        return checks


def database_ok() -> bool:
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def job_health(settings: Settings) -> JobHealth:
    """Healthy: the database answers, a worker polls the pool and the sync deployment is bound to it."""
    db = database_ok()
    try:
        config = prefect_access.read_worker_config(settings)
    except OrchestratorUnavailable as exc:
        return JobHealth(False, db, None, prefect_error=str(exc), action=exc.action)
    deployment_name = settings.sync_deployment.split("/", 1)[-1]
    bound = any(d.endswith("/" + deployment_name) for d in config.deployments)
    return JobHealth(db and bool(config.pool.online_workers) and bound, db, config)
