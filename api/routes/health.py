"""Liveness and readiness probes (no authentication: they reveal nothing but up/down)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import SettingsDep
from services import prefect_access
from services.job_health import database_ok

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database or Prefect API unreachable"}})
def readyz(settings: SettingsDep) -> JSONResponse:
    """Ready when the database and the Prefect API both answer."""
    checks = {"database": database_ok(), "prefect_api": prefect_access.api_healthy(settings)}
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    body = {"error": "not_ready", "message": f"unreachable: {failing}", "checks": checks}
    return JSONResponse(body, status_code=503)
