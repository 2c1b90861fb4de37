"""Savepoints must really roll back on both databases: a refused trigger may leave nothing queued."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models.business import Business
from models.db import dispose_engines, migrate, session_factory
from models.queries.sync_runs import create_sync_run
from models.runs import SyncRun
from receipt_sync.errors import SyncAlreadyRunning


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/receipts.db"
        migrate(url)
        return url
    return request.getfixturevalue("db_url")


def _business(url: str) -> int:
    with session_factory(url).begin() as session:
        business = Business(name="Savepoint Ltd")
        session.add(business)
        session.flush()
        return business.id


def _queued_runs(url: str, business_id: int) -> list[str]:
    with session_factory(url)() as session:
        return list(session.scalars(select(SyncRun.status).where(SyncRun.business_id == business_id)))


def test_a_run_inserted_under_a_savepoint_is_gone_when_the_outer_transaction_rolls_back(any_db_url: str) -> None:
    business_id = _business(any_db_url)
    with session_factory(any_db_url)() as session:
        create_sync_run(session, business_id=business_id, mailbox_id=None, mode="full", trigger="api", parameters={})
        session.rollback()  # what a trigger does when Prefect refuses the flow run
    assert _queued_runs(any_db_url, business_id) == []
    dispose_engines()


def test_a_second_queued_run_is_refused_and_the_first_survives_the_refusal(any_db_url: str) -> None:
    business_id = _business(any_db_url)
    with session_factory(any_db_url)() as session:
        create_sync_run(session, business_id=business_id, mailbox_id=None, mode="full", trigger="api", parameters={})
        session.commit()
        with pytest.raises(SyncAlreadyRunning):
            create_sync_run(
                session, business_id=business_id, mailbox_id=None, mode="full", trigger="api", parameters={}
            )
        session.commit()
    assert _queued_runs(any_db_url, business_id) == ["queued"]
    dispose_engines()


def test_the_unique_index_itself_refuses_a_second_active_run_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/receipts.db"
    migrate(url)
    business_id = _business(url)
    with session_factory(url)() as session:
        session.add(SyncRun(business_id=business_id, mode="full", trigger="api", parameters={}, status="queued"))
        session.commit()
        session.add(SyncRun(business_id=business_id, mode="full", trigger="api", parameters={}, status="running"))
        with pytest.raises(IntegrityError):
            session.commit()
    dispose_engines()
