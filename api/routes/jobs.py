"""Is the machinery working? Health of the job system, the worker setup, and operator diagnostics."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CallerDep, DiagnosticsAccess, SessionDep, SettingsDep
from api.responses import ERRORS, FORBIDDEN, UNAVAILABLE
from api.schemas import ActiveRunPublic, DiagnosticsPublic, JobHealthPublic, WorkerConfigPublic
from models.queries.sync_runs import active_sync_runs
from receipt_sync.errors import PermissionDenied
from services import prefect_access
from services.job_health import job_health
from services.sync_requests import stale_reason_for

router = APIRouter(tags=["jobs"], responses=ERRORS)


@router.get("/api/jobs/health", response_model=JobHealthPublic, response_model_exclude_unset=True)
def jobs_health(caller: CallerDep, settings: SettingsDep) -> JobHealthPublic:
    """Database, Prefect API, work pool status, online workers and the deployments found. Members get only
    whether it works (`ok`, `database`, `prefect_api`): worker host names and internal URLs are for admins."""
    return JobHealthPublic.of(job_health(settings), admin=caller.is_admin)


@router.get("/api/jobs/worker/config", responses={**UNAVAILABLE, **FORBIDDEN})
def worker_config(caller: CallerDep, settings: SettingsDep) -> WorkerConfigPublic:
    """The work pool, its queues, bound deployments and the workers polling it (system_admin tokens only: it
    names worker hosts)."""
    if not caller.is_admin:
        raise PermissionDenied("the worker configuration needs a system_admin token")
    return WorkerConfigPublic.of(prefect_access.read_worker_config(settings))


@router.get(
    "/api/receipts/queue/diagnostics",
    dependencies=[DiagnosticsAccess],
    responses=FORBIDDEN,
    response_model=DiagnosticsPublic,
    response_model_exclude_unset=True,
)
def diagnostics(session: SessionDep, settings: SettingsDep) -> DiagnosticsPublic:
    """Job health plus every business's active runs and the critical checks (system_admin or diagnostic key)."""
    health = job_health(settings)
    active = [ActiveRunPublic.of(r, stale_reason_for(settings, r)) for r in active_sync_runs(session)]
    stale = [f"sync run {r.id} of business {r.business_id} is stale" for r in active if r.stale_reason]
    shown = JobHealthPublic.of(health, admin=True).model_dump(exclude_unset=True)
    return DiagnosticsPublic(**shown, active_runs=active, critical=health.critical + stale)
