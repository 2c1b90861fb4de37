"""Alembic environment: runs migrations against the URL the caller configured (or the settings)."""

from __future__ import annotations

from alembic import context

from models import Base
from models.db import get_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or None


def run_migrations_online() -> None:
    engine = get_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
