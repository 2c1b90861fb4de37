"""Run history stays bounded: old final runs are pruned, and the runs a user or a resumption needs are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prefect.settings.models.server.services import ServerServicesDBVacuumSettings
from sqlalchemy import select

from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionRun
from receipt_sync.settings import get_settings
from services.retention import history_report, prefect_retention_env, prune_run_history
from tests.conftest import SettingsOverride
from tests.factories import (
    add_deletion_failure,
    add_deletion_run,
    add_receipts,
    add_sync_run,
    end_deletion_run,
    make_business,
    sync_runs,
)


def _ended(days: float, status: str = "completed") -> dict[str, object]:
    ended = utcnow() - timedelta(days=days)
    return {"status": status, "finished_at": ended, "created_at": ended, "updated_at": ended}


def _deletion_run_ids(business_id: int) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(DeletionRun.id).where(DeletionRun.business_id == business_id)))


def test_old_final_sync_runs_are_pruned_and_the_needed_ones_kept(settings_env: dict[str, str]) -> None:
    acme, other = make_business("Acme"), make_business("Other")
    old = [add_sync_run(acme, **_ended(40, status)) for status in ("completed", "failed", "cancelled")]
    resumed = add_sync_run(acme, **_ended(45, "failed"))
    rerun = add_sync_run(acme, status="running", trigger="rerun", rerun_of_id=resumed)
    recent = add_sync_run(other, **_ended(2))
    latest_of_other = add_sync_run(other, **_ended(50))  # old, but the newest run of its business

    result = prune_run_history(get_settings())

    assert (result.sync_runs, result.deletion_runs) == (3, 0)
    assert [r.id for r in sync_runs(acme)] == [resumed, rerun]  # old runs gone; the resumed one kept
    assert [r.id for r in sync_runs(other)] == [recent, latest_of_other]
    assert not set(old) & {r.id for r in sync_runs(acme)}


def test_pruning_goes_batch_by_batch_until_nothing_is_left(
    settings_env: dict[str, str], override_settings: SettingsOverride
) -> None:
    override_settings({"RETENTION_BATCH_SIZE": "2"})
    acme = make_business()
    for _ in range(7):
        add_sync_run(acme, **_ended(31))
    newest = add_sync_run(acme, **_ended(31))

    assert prune_run_history(get_settings()).sync_runs == 7
    assert [r.id for r in sync_runs(acme)] == [newest]
    assert prune_run_history(get_settings()).sync_runs == 0  # idempotent


def test_zero_days_keeps_history_forever(settings_env: dict[str, str], override_settings: SettingsOverride) -> None:
    override_settings({"RUN_RETENTION_DAYS": "0"})
    acme = make_business()
    ids = [add_sync_run(acme, **_ended(400)) for _ in range(3)]

    result = prune_run_history(get_settings())

    assert result.cutoff is None and "kept forever" in result.summary()
    assert [r.id for r in sync_runs(acme)] == ids


def test_a_run_younger_than_the_retention_period_is_kept(
    settings_env: dict[str, str], override_settings: SettingsOverride
) -> None:
    override_settings({"RUN_RETENTION_DAYS": "7"})
    acme = make_business()
    older, younger = add_sync_run(acme, **_ended(8)), add_sync_run(acme, **_ended(6))
    newest = add_sync_run(acme, **_ended(1))

    prune_run_history(get_settings())

    assert [r.id for r in sync_runs(acme)] == [younger, newest]
    assert older not in {r.id for r in sync_runs(acme)}


def test_deletion_runs_with_refused_documents_are_kept_until_retried(settings_env: dict[str, str]) -> None:
    acme = make_business()
    (receipt_id,) = add_receipts(acme, 1)
    plain = add_deletion_run(acme)
    end_deletion_run(plain, "completed", timedelta(days=60))
    with_failure = add_deletion_run(acme)
    end_deletion_run(with_failure, "failed", timedelta(days=60))
    add_deletion_failure(with_failure, acme, receipt_id)
    latest = add_deletion_run(acme)
    end_deletion_run(latest, "completed", timedelta(days=59))

    result = prune_run_history(get_settings())

    assert result.deletion_runs == 1
    assert _deletion_run_ids(acme) == [with_failure, latest]


def test_doctor_reports_what_the_next_round_prunes_without_deleting(settings_env: dict[str, str]) -> None:
    acme = make_business()
    for _ in range(3):
        add_sync_run(acme, **_ended(90))
    add_sync_run(acme, **_ended(1))

    with session_scope() as session:
        report = history_report(session, get_settings())

    assert (
        report
        == "4 sync run(s), 0 deletion run(s) stored; 3 older than 30 day(s), pruned by the next incremental round"
    )
    assert len(sync_runs(acme)) == 4


def test_prefect_server_env_turns_on_the_flow_run_vacuum_prefect_understands(
    settings_env: dict[str, str], override_settings: SettingsOverride, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings({"RUN_RETENTION_DAYS": "14"})
    env = prefect_retention_env(get_settings(), {})
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    vacuum = ServerServicesDBVacuumSettings()  # Prefect's own parser: a misspelt name would be ignored here

    assert vacuum.enabled_vacuum_types == {"events", "flow_runs", "orphans"}
    assert vacuum.retention_period == timedelta(days=14)


def test_prefect_server_env_leaves_an_operators_choice_and_zero_days_alone(
    settings_env: dict[str, str], override_settings: SettingsOverride
) -> None:
    override_settings({"RUN_RETENTION_DAYS": "14"})
    chosen = {"PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": "7200"}
    assert "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD" not in prefect_retention_env(get_settings(), chosen)

    override_settings({"RUN_RETENTION_DAYS": "0"})
    assert prefect_retention_env(get_settings(), {}) == {}
