"""What the API asks of Prefect: trigger a deployment run, is anyone working, a run's state, cancel, UI links.

Every call goes to the Prefect server named by `PREFECT_API_URL` with a short timeout and no client-side
retries, so an unreachable Prefect turns into `OrchestratorUnavailable` (HTTP 503) within seconds instead of
hanging a request. The one exception is creating a flow run: when its answer is lost it is asked once more with
the same idempotency key, so a run Prefect did create is found again instead of made twice (the orphan a
rolled-back trigger would leave). Nothing here imports `flows/`: deployments are reached by name only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
from prefect.client.schemas.objects import FlowRun, WorkerStatus, WorkPoolStatus
from prefect.context import SettingsContext, get_settings_context
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES
from prefect.states import State, StateType

from receipt_sync.errors import DeploymentMissing, NoWorkerAvailable, OrchestratorUnavailable
from receipt_sync.jsontypes import JsonObject
from receipt_sync.settings import Settings

TERMINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
_SET_API_URL = "set PREFECT_API_URL to the Prefect server's API, e.g. http://127.0.0.1:4200/api"


@dataclass(frozen=True)
class FlowRunState:
    type: str  # SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, CRASHED, CANCELLING, PAUSED
    name: str
    message: str | None

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_STATE_TYPES


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    status: str
    last_heartbeat_at: datetime | None
    heartbeat_interval_seconds: float | None = None

    def alive(self, missed_heartbeats: float, now: datetime | None = None) -> bool:
        """ONLINE, and its last heartbeat within `missed_heartbeats` of its own intervals (Prefect waits 90 s)."""
        if self.status != WorkerStatus.ONLINE.value:
            return False
        if self.last_heartbeat_at is None or not self.heartbeat_interval_seconds:
            return True
        silent = ((now or datetime.now(UTC)) - self.last_heartbeat_at).total_seconds()
        return silent <= self.heartbeat_interval_seconds * missed_heartbeats + 2.0


@dataclass
class PoolStatus:
    name: str
    status: str | None  # READY / NOT_READY / PAUSED, None when the pool does not exist
    workers: list[WorkerInfo] = field(default_factory=list)
    missed_heartbeats: float = 3.0

    @property
    def online_workers(self) -> list[WorkerInfo]:
        """Workers alive by a tight heartbeat rule: a dead worker stops counting within ~3 intervals."""
        return [w for w in self.workers if w.alive(self.missed_heartbeats)]


@dataclass(frozen=True)
class QueueInfo:
    name: str
    paused: bool


@dataclass(frozen=True)
class WorkerConfig:
    """The work pool, its queues, the deployments bound to it (`flow/deployment`) and the workers polling it."""

    pool: PoolStatus
    queues: list[QueueInfo]
    deployments: list[str]

    @property
    def pool_exists(self) -> bool:
        return self.pool.status is not None


@dataclass(frozen=True)
class FlowRunRequest:
    """A flow run to create from a deployment (reached by name: nothing here imports a flow)."""

    deployment: str
    parameters: JsonObject  # the flow's own parameters: JSON, validated by Prefect against the flow
    name: str
    tags: list[str]
    work_queue: str | None = None  # None: the deployment's own queue


@dataclass(frozen=True)
class TriggeredRun:
    flow_run_id: str
    flow_run_name: str
    work_pool: str


@functools.lru_cache(maxsize=8)
def _prefect_settings(api_url: str) -> Any:
    """Prefect's settings pointed at `api_url` with retries off, built once (building them costs ~40 ms)."""
    base = get_settings_context().settings
    return base.copy_with_update(updates={PREFECT_API_URL: api_url, PREFECT_CLIENT_MAX_RETRIES: 0})


@contextmanager
def prefect_client(settings: Settings) -> Iterator[SyncPrefectClient]:
    """A short-lived sync client; transport failures and Prefect HTTP errors become `OrchestratorUnavailable`."""
    if not settings.prefect_api_url:
        raise OrchestratorUnavailable("the Prefect API is not configured", action=_SET_API_URL)
    ctx = get_settings_context()
    timeout = httpx.Timeout(settings.prefect_api_timeout_seconds)
    try:
        with (
            SettingsContext(profile=ctx.profile, settings=_prefect_settings(settings.prefect_api_url)),
            get_client(sync_client=True, httpx_settings={"timeout": timeout}) as client,
        ):
            yield client
    except (httpx.TransportError, PrefectHTTPStatusError) as exc:
        status = exc.response.status_code if isinstance(exc, PrefectHTTPStatusError) else None
        why = f"HTTP {status}" if status else type(exc).__name__
        raise OrchestratorUnavailable(
            f"the Prefect API at {settings.prefect_api_url} is unreachable or refused the request ({why})",
            action=f"start the Prefect server (prefect server start) or {_SET_API_URL}",
        ) from exc


def _pool_status(client: SyncPrefectClient, pool_name: str, missed_heartbeats: float = 3.0) -> PoolStatus:
    try:
        pool = client.read_work_pool(pool_name)
    except ObjectNotFound:
        return PoolStatus(name=pool_name, status=None)
    workers = client.read_workers_for_work_pool(pool_name)
    infos = [
        WorkerInfo(w.name, str(w.status.value), w.last_heartbeat_time, w.heartbeat_interval_seconds) for w in workers
    ]
    status = pool.status.value if pool.status else None
    return PoolStatus(name=pool_name, status=status, workers=infos, missed_heartbeats=missed_heartbeats)


def pool_status(settings: Settings, pool_name: str | None = None) -> PoolStatus:
    """The work pool's status and its workers (ONLINE means a heartbeat within Prefect's 90 s window)."""
    with prefect_client(settings) as client:
        return _pool_status(client, pool_name or settings.prefect_work_pool, settings.worker_missed_heartbeats)


def worker_action(pool_name: str) -> str:
    return f"start a worker: prefect worker start --pool {pool_name}"


def require_worker(status: PoolStatus) -> None:
    """Refuse work nobody would pick up: a missing or paused pool, or no online worker polling it."""
    if status.status is None:
        raise NoWorkerAvailable(
            f"work pool {status.name!r} does not exist",
            action=f"create it: prefect work-pool create {status.name} --type process, then "
            + worker_action(status.name),
        )
    if status.status == WorkPoolStatus.PAUSED.value:
        raise NoWorkerAvailable(
            f"work pool {status.name!r} is paused", action=f"resume it: prefect work-pool resume {status.name}"
        )
    if not status.online_workers:
        raise NoWorkerAvailable(
            f"no worker is polling work pool {status.name!r}; the run would never start",
            action=worker_action(status.name),
        )


def trigger_deployment(settings: Settings, request: FlowRunRequest) -> TriggeredRun:
    """Create a flow run of the deployment after checking a worker polls its pool (else 503, nothing made)."""
    with prefect_client(settings) as client:
        try:
            deployment = client.read_deployment_by_name(request.deployment)
        except ObjectNotFound:
            raise DeploymentMissing(
                f"deployment {request.deployment!r} is not registered with Prefect",
                action="deploy it: prefect --no-prompt deploy --all (from the project root)",
            ) from None
        pool = deployment.work_pool_name or settings.prefect_work_pool
        require_worker(_pool_status(client, pool, settings.worker_missed_heartbeats))
        create = functools.partial(
            client.create_flow_run_from_deployment,
            deployment.id,
            parameters=request.parameters,
            name=request.name,
            tags=request.tags,
            idempotency_key=f"trigger-{uuid4()}",  # one key per trigger, for both attempts below
            work_queue_name=request.work_queue,  # None: the deployment's own queue
        )
        try:
            run = create()
        except (httpx.TransportError, PrefectHTTPStatusError) as exc:
            if isinstance(exc, PrefectHTTPStatusError) and exc.response.status_code < 500:
                raise
            # The answer was lost (timeout, reset, 5xx from a proxy), not necessarily the request: Prefect may have
            # created the run. Asked again with the same key, it returns that run instead of making a second one
            # (which, with our record rolled back, would be an orphan).
            run = create()
        return TriggeredRun(flow_run_id=str(run.id), flow_run_name=run.name, work_pool=pool)


def _as_uuid(flow_run_id: str) -> UUID | None:
    try:
        return UUID(flow_run_id)
    except ValueError:
        return None


def _read_flow_run(client: SyncPrefectClient, run_uuid: UUID) -> FlowRun | None:
    try:
        return client.read_flow_run(run_uuid)
    except ObjectNotFound:
        return None


def read_flow_run_state(settings: Settings, flow_run_id: str) -> FlowRunState | None:
    """The flow run's current state, or None when Prefect has no such run."""
    run_uuid = _as_uuid(flow_run_id)
    if run_uuid is None:
        return None
    with prefect_client(settings) as client:
        run = _read_flow_run(client, run_uuid)
    if run is None or run.state is None:
        return None
    return FlowRunState(
        type=run.state.type.value, name=run.state.name or run.state.type.value, message=run.state.message
    )


def cancel_flow_run(settings: Settings, flow_run_id: str) -> bool:
    """Ask Prefect to cancel (CANCELLING; the worker stops the process). False when already finished/absent."""
    run_uuid = _as_uuid(flow_run_id)
    if run_uuid is None:
        return False
    with prefect_client(settings) as client:
        run = _read_flow_run(client, run_uuid)
        if run is None or run.state is None or run.state.type.value in TERMINAL_STATE_TYPES:
            return False
        cancelling = State(type=StateType.CANCELLING, message="cancelled through the receipts API")
        client.set_flow_run_state(run_uuid, cancelling)
        return True


def api_healthy(settings: Settings) -> bool:
    """True when the Prefect API answers its health check."""
    try:
        with prefect_client(settings) as client:
            return client.api_healthcheck() is None
    except OrchestratorUnavailable:
        return False


def read_worker_config(settings: Settings, pool_name: str | None = None) -> WorkerConfig:
    """The pool, its queues, the deployments bound to it and the workers polling it (with last heartbeat)."""
    pool_name = pool_name or settings.prefect_work_pool
    with prefect_client(settings) as client:
        status = _pool_status(client, pool_name)
        queues = client.read_work_queues(work_pool_name=pool_name) if status.status else []
        pool_filter = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool_name]))
        deployments = client.read_deployments(work_pool_filter=pool_filter)
        flow_names = {f.id: f.name for f in client.read_flows()} if deployments else {}
    return WorkerConfig(
        pool=status,
        queues=[QueueInfo(q.name, bool(q.is_paused)) for q in queues],
        deployments=sorted(f"{flow_names.get(d.flow_id, '?')}/{d.name}" for d in deployments),
    )


def ui_base_url(settings: Settings) -> str | None:
    """The Prefect UI root: `PREFECT_UI_URL`, else the API URL without its `/api` suffix."""
    if settings.prefect_ui_url:
        return settings.prefect_ui_url.rstrip("/")
    if settings.prefect_api_url:
        return settings.prefect_api_url.rstrip("/").removesuffix("/api")
    return None


def flow_run_ui_url(settings: Settings, flow_run_id: str | None) -> str | None:
    base = ui_base_url(settings)
    return f"{base}/runs/flow-run/{flow_run_id}" if base and flow_run_id else None
