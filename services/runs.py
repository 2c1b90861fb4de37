"""What sync and deletion requests share: starting a run record's flow run, and cancelling one quietly.

A run record is inserted uncommitted; `start_flow_run` creates its Prefect flow run through the deployment and
commits both together, so a refused trigger (Prefect unreachable, no worker) leaves no row behind.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from sqlalchemy.orm import Session

from receipt_sync.errors import OrchestratorUnavailable
from receipt_sync.settings import Settings
from services import prefect_access
from services.prefect_access import FlowRunRequest

ERROR_PREVIEW = 500


class RunRecord(Protocol):
    """A sync or deletion run record: it learns the id of the flow run that works on it."""

    business_id: int
    flow_run_id: str | None


def start_flow_run(session: Session, settings: Settings, run: RunRecord, request: FlowRunRequest) -> None:
    """Trigger the deployment for `run` and commit; on any failure (503: no worker) the uncommitted row goes."""
    try:
        triggered = prefect_access.trigger_deployment(settings, request)
        run.flow_run_id = triggered.flow_run_id
        session.commit()
    except BaseException:
        session.rollback()
        raise


def cancel_quietly(settings: Settings, flow_run_id: str | None) -> None:
    """Best effort: the run record is already failed; Prefect being down must not block the business."""
    if flow_run_id:
        with contextlib.suppress(OrchestratorUnavailable):
            prefect_access.cancel_flow_run(settings, flow_run_id)


def error_preview(message: str | None) -> str | None:
    """The first characters of a run's error, as the API shows it."""
    return message[:ERROR_PREVIEW] if message else None
