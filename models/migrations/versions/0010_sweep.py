"""sweep: read the rest of the mailbox after the receipt query, across runs, switchable per business

A full sync lists what the receipt query matches first, then sweeps the rest of its window at low priority.
The sweep's place (the window and the listing's page token) is kept on the mailbox so a later run resumes it;
a run records what its sweep did; a business can switch the sweep off. New mail an incremental sync leaves to
the sweep (not matched by the receipt query) is a ledger row with outcome `deferred` (partial index: the
sweep reads them first, without scanning the business's processed rows).

Revision ID: 0010_sweep
Revises: 0009_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_sweep"
down_revision = "0009_retention"
branch_labels = None
depends_on = None

DEFERRED = sa.text("outcome = 'deferred'")


def upgrade() -> None:
    with op.batch_alter_table("business") as batch:
        batch.add_column(sa.Column("sweep_enabled", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("mailbox_connection") as batch:
        batch.add_column(sa.Column("sweep_cursor", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sweep_completed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("sweep_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("sweep_messages_scanned", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("sweep_messages_fetched", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("sweep_receipts_saved", sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        "ix_processed_message_deferred",
        "processed_message",
        ["business_id", "id"],
        postgresql_where=DEFERRED,
        sqlite_where=DEFERRED,
    )


def downgrade() -> None:
    op.drop_index("ix_processed_message_deferred", table_name="processed_message")
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("sweep_receipts_saved")
        batch.drop_column("sweep_messages_fetched")
        batch.drop_column("sweep_messages_scanned")
        batch.drop_column("sweep_status")
    with op.batch_alter_table("mailbox_connection") as batch:
        batch.drop_column("sweep_completed_at")
        batch.drop_column("sweep_cursor")
    with op.batch_alter_table("business") as batch:
        batch.drop_column("sweep_enabled")
