"""The reconciler's rules for a queued run, from the facts alone (no database, no Prefect)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.base import utcnow
from models.runs import SyncRun
from receipt_sync.settings import Settings
from services.reconcile import dead_reason

SETTINGS = Settings(sync_stale_after_seconds=45)


def _queued() -> SyncRun:
    return SyncRun(business_id=1, mode="incremental", trigger="schedule", status="queued", created_at=utcnow())


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("PENDING", "a worker took its flow run but never started its process in 60 s"),
        ("RUNNING", "its flow process started but never opened the run in 60 s"),
    ],
)
def test_a_queued_run_whose_worker_took_it_and_died_is_dead_after_the_stale_threshold(state: str, why: str) -> None:
    since = utcnow() - timedelta(seconds=60)
    assert dead_reason(_queued(), SETTINGS, prefect_state=state, worker_alive=True, state_since=since) == why


@pytest.mark.parametrize("state", ["PENDING", "RUNNING", "SCHEDULED"])
def test_a_queued_run_a_worker_just_took_or_has_not_taken_is_left_alone(state: str) -> None:
    since = utcnow() - timedelta(seconds=10)
    assert dead_reason(_queued(), SETTINGS, prefect_state=state, worker_alive=True, state_since=since) is None
