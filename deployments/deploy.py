"""`receipts deploy`: everything a Prefect server needs to run Receipt Sync, idempotently.

1. the `process` work pool the deployments name (prefect deploy only warns when it is missing), its job template
   locked (no `command`, `working_dir` or free `env` a caller of the Prefect API could turn into code), and its
   two queues: `incremental` served first, `default` (long syncs, deletions) with a concurrency limit below
   the workers' capacity (deployments/capacity.py);
2. `prefect --no-prompt deploy --all` from prefect.yaml (the one place deployments are defined), run as a
   subprocess from the project root so it records that directory as the flows' working directory;
3. the incremental-syncs schedule, when INCREMENTAL_SYNC_INTERVAL_MINUTES differs from prefect.yaml's;
4. the per-business concurrency limits for businesses with a mailbox (flows also create them lazily);
5. the automations: the zombie-run remedy and the alerts (deployments/automations.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.workers.process import ProcessWorker

from deployments import automations, capacity
from models.db import session_scope
from models.queries import mailboxes as mailbox_queries
from receipt_sync.errors import ConfigurationError
from receipt_sync.jsontypes import JsonObject
from receipt_sync.settings import Settings
from services import prefect_access
from services.slots import business_limit_name

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = ("gmail-sync/gmail-sync", "receipt-deletion/receipt-deletion", "incremental-syncs/incremental-syncs")
SCHEDULED_DEPLOYMENT = "incremental-syncs/incremental-syncs"


@dataclass
class DeployReport:
    deployments: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    automations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def prefect_executable() -> str:
    """The `prefect` next to this interpreter (the virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "prefect"
    return str(beside) if beside.exists() else "prefect"


# Job variables a deployment or a flow run may set on the pool, and nothing else. The process pool's default
# template lets any caller of the Prefect API pass `command` (run any shell command as the worker, with its
# ENCRYPTION_KEY), `working_dir`, or any `env` (LD_PRELOAD, PYTHONPATH, PYTHONWARNINGS=...: code again).
# Here `command` and `working_dir` are not variables at all (the worker runs `python -m prefect.engine`), `env`
# takes only the heartbeat frequency prefect.yaml sets, and unknown variables fail validation: Prefect answers
# such a create_flow_run with 422.
ALLOWED_ENV = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": {"type": "string", "pattern": "^[0-9]{1,4}$"}}


def locked_job_template() -> JsonObject:
    """The process worker's default base job template without the variables a caller could turn into code."""
    template = ProcessWorker.get_default_base_job_template()
    for name in ("command", "working_dir"):
        template["job_configuration"].pop(name, None)
        template["variables"]["properties"].pop(name, None)
    env = template["variables"]["properties"]["env"]
    env.update(properties=ALLOWED_ENV, additionalProperties=False)
    template["variables"]["additionalProperties"] = False
    return template


def ensure_work_pool(client: SyncPrefectClient, name: str) -> bool:
    """Create the `process` pool with the locked job template, or lock an existing one; True when created."""
    template = locked_job_template()
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        pool = None
    if pool is not None:
        if pool.base_job_template != template:
            client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
        return False
    try:
        client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
    except ObjectAlreadyExists:
        client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
        return False
    return True


def ensure_work_queues(client: SyncPrefectClient, settings: Settings) -> str:
    """The incremental queue (priority 1, unlimited) and the long-sync queue (priority 10, limited)."""
    pool = settings.prefect_work_pool
    wanted = {
        settings.incremental_work_queue: (capacity.INCREMENTAL_PRIORITY, None),
        capacity.LONG_SYNC_QUEUE: (capacity.LONG_SYNC_PRIORITY, capacity.long_sync_limit(settings)),
    }
    for name, (priority, limit) in wanted.items():
        try:
            queue = client.read_work_queue_by_name(name, work_pool_name=pool)
        except ObjectNotFound:
            client.create_work_queue(name, work_pool_name=pool, priority=priority, concurrency_limit=limit)
            continue
        if queue.priority != priority or queue.concurrency_limit != limit:
            client.update_work_queue(queue.id, priority=priority, concurrency_limit=limit)
    long_limit = capacity.long_sync_limit(settings)
    return (
        f"queues: {settings.incremental_work_queue!r} first, {capacity.LONG_SYNC_QUEUE!r} "
        f"(long syncs) at most {long_limit} at once"
    )


def run_prefect_deploy(settings: Settings, project_dir: Path = PROJECT_ROOT, timeout: float = 180) -> str:
    """`prefect --no-prompt deploy --all` against settings.prefect_api_url; returns its output, raises on failure."""
    env = {**os.environ, "PREFECT_API_URL": str(settings.prefect_api_url), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cmd = [prefect_executable(), "--no-prompt", "deploy", "--all"]
    done = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise ConfigurationError(f"prefect deploy --all failed (exit {done.returncode}):\n{output[-3000:]}")
    return output


def apply_schedule_interval(client: SyncPrefectClient, minutes: float | None) -> str | None:
    """Set the incremental-syncs interval to `minutes` (None keeps prefect.yaml's)."""
    if minutes is None:
        return None
    deployment = client.read_deployment_by_name(SCHEDULED_DEPLOYMENT)
    interval = IntervalSchedule(interval=timedelta(minutes=minutes))
    schedules = client.read_deployment_schedules(deployment.id)
    for schedule in schedules:
        client.update_deployment_schedule(deployment.id, schedule.id, schedule=interval)
    if not schedules:
        client.create_deployment_schedules(deployment.id, [DeploymentScheduleCreate(schedule=interval, active=True)])
    return f"incremental-syncs every {minutes:g} minutes"


def businesses_with_mailboxes() -> list[int]:
    with session_scope() as session:
        return mailbox_queries.business_ids_with_mailboxes(session)


def ensure_business_limits(client: SyncPrefectClient, business_ids: list[int]) -> list[str]:
    """One slot per business for syncs (`sync-business-<id>`), as the gmail-sync flow expects."""
    names = [business_limit_name("sync", b) for b in business_ids]
    for name in names:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    return names


def deploy_all(
    settings: Settings, project_dir: Path = PROJECT_ROOT, *, interval_minutes: float | None = None
) -> DeployReport:
    """Register everything on the Prefect server at `settings.prefect_api_url` (safe to run again)."""
    report = DeployReport()
    with prefect_access.prefect_client(settings) as client:
        if ensure_work_pool(client, settings.prefect_work_pool):
            report.notes.append(f"created work pool {settings.prefect_work_pool!r} (process)")
        report.notes.append(ensure_work_queues(client, settings))
    run_prefect_deploy(settings, project_dir)
    report.deployments = list(DEPLOYMENTS)
    with prefect_access.prefect_client(settings) as client:
        if note := apply_schedule_interval(client, interval_minutes):
            report.notes.append(note)
        report.limits = ensure_business_limits(client, businesses_with_mailboxes())
        installed = automations.install_automations(client, settings)
    report.automations, report.notes = installed.names, report.notes + installed.notes
    return report
