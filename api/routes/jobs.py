"""Is the machinery working? Health of the job system, the worker setup, and operator diagnostics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from api.deps import CallerDep, DiagnosticsAccess, SessionDep, SettingsDep
from api.responses import ERRORS, FORBIDDEN, UNAVAILABLE
from api.routes.health import database_ok
from models.queries.sync_runs import active_sync_runs
from receipt_sync.errors import OrchestratorUnavailable, PermissionDenied
from receipt_sync.settings import Settings
from services import prefect_access
from services.sync_requests import progress, stale_reason_for

router = APIRouter(tags=["jobs"], responses=ERRORS)


def _prefect_summary(settings: Settings) -> dict[str, Any]:
    try:
        config = prefect_access.read_worker_config(settings)
    except OrchestratorUnavailable as exc:
        return {"prefect_api": "unreachable", "prefect_error": str(exc), "action": exc.action}
    return {"prefect_api": "ok", **config}


def job_health(settings: Settings) -> dict[str, Any]:
    summary = _prefect_summary(settings)
    db = database_ok()
    deployment_name = settings.sync_deployment.split("/", 1)[-1]
    found = summary.get("deployments", [])
    ok = db and summary["prefect_api"] == "ok" and summary["online_workers"] > 0
    ok = ok and any(d.endswith("/" + deployment_name) for d in found)
    return {"ok": ok, "database": "ok" if db else "unreachable", **summary}


MEMBER_HEALTH_FIELDS = ("ok", "database", "prefect_api")


@router.get("/api/jobs/health")
def jobs_health(caller: CallerDep, settings: SettingsDep) -> dict[str, Any]:
    """Database, Prefect API, work pool status, online workers and the deployments found. Members get only
    whether it works (`ok`, `database`, `prefect_api`): worker host names and internal URLs are for admins."""
    health = job_health(settings)
    return health if caller.is_admin else {k: health[k] for k in MEMBER_HEALTH_FIELDS if k in health}


@router.get("/api/jobs/worker/config", responses={**UNAVAILABLE, **FORBIDDEN})
def worker_config(caller: CallerDep, settings: SettingsDep) -> dict[str, Any]:
    """The work pool, its queues, bound deployments and the workers polling it (system_admin tokens only: it
    names worker hosts)."""
    if not caller.is_admin:
        raise PermissionDenied("the worker configuration needs a system_admin token")
    return prefect_access.read_worker_config(settings)


def _active_runs(session: Session, settings: Settings) -> list[dict[str, Any]]:
    runs = active_sync_runs(session)
    return [{"business_id": r.business_id, **progress(r), "stale_reason": stale_reason_for(settings, r)} for r in runs]


def _critical_checks(health: dict[str, Any], active: list[dict[str, Any]]) -> list[str]:
    checks = []
    if health["database"] != "ok":
        checks.append("database unreachable")
    if health["prefect_api"] != "ok":
        checks.append(f"Prefect API unreachable: {health.get('action')}")
    elif health["online_workers"] == 0:
        checks.append(f"no worker online: {prefect_access.worker_action(health['work_pool']['name'])}")
    checks += [f"sync run {r['id']} of business {r['business_id']} is stale" for r in active if r["stale_reason"]]
    return checks


@router.get("/api/receipts/queue/diagnostics", dependencies=[DiagnosticsAccess], responses=FORBIDDEN)
def diagnostics(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Job health plus every business's active runs and the critical checks (system_admin or diagnostic key)."""
    health = job_health(settings)
    active = _active_runs(session, settings)
    return {**health, "active_runs": active, "critical": _critical_checks(health, active)}
