"""The schema as Alembic builds it on PostgreSQL enforces what code alone could race past."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from models import Business, Receipt, SyncRun
from models.db import session_scope


def _business(url: str) -> int:
    with session_scope(url) as session:
        return session.execute(insert(Business).values(name="Acme").returning(Business.id)).scalar_one()


def test_database_allows_one_active_sync_per_business(db_url: str) -> None:
    business_id = _business(db_url)
    other_id = _business(db_url)
    with session_scope(db_url) as session:
        session.add(SyncRun(business_id=business_id, mode="full", status="running"))
        session.add(SyncRun(business_id=other_id, mode="full", status="queued"))
        session.add(SyncRun(business_id=business_id, mode="full", status="completed"))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(SyncRun(business_id=business_id, mode="incremental", status="queued"))


def test_receipt_is_unique_per_business_and_message(db_url: str) -> None:
    business_id = _business(db_url)
    with session_scope(db_url) as session:
        session.add(Receipt(business_id=business_id, source_message_id="m1"))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.add(Receipt(business_id=business_id, source_message_id="m1"))


def test_migrations_build_exactly_the_schema_the_models_declare(db_url: str) -> None:
    """A model change without its migration would ship a database the code does not expect."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from models import Base
    from models.db import get_engine

    with get_engine(db_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
