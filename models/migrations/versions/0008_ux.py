"""failed messages: attempts and run in the ledger; fetched, mailbox size and quota units on sync runs

A failed message's ledger row says how often it was tried and by which run, so later syncs can retry transient
failures a bounded number of times and the API can list a business's failed messages (partial index: failed
rows only). Sync runs record what the summary reports beside their counters.

Revision ID: 0008_ux
Revises: 0004_fleet
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_ux"
down_revision = "0004_fleet"
branch_labels = None
depends_on = None

FAILED = sa.text("outcome IN ('error', 'retry')")


def upgrade() -> None:
    with op.batch_alter_table("processed_message") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("sync_run_id", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(
            "fk_processed_message_sync_run_id_sync_run", "sync_run", ["sync_run_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index(
        "ix_processed_message_failed",
        "processed_message",
        ["business_id", "id"],
        postgresql_where=FAILED,
        sqlite_where=FAILED,
    )
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("messages_fetched", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("mailbox_messages", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quota_units", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("quota_units")
        batch.drop_column("mailbox_messages")
        batch.drop_column("messages_fetched")
    op.drop_index("ix_processed_message_failed", table_name="processed_message")
    with op.batch_alter_table("processed_message") as batch:
        batch.drop_constraint("fk_processed_message_sync_run_id_sync_run", type_="foreignkey")
        batch.drop_column("sync_run_id")
        batch.drop_column("attempts")
