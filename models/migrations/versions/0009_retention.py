"""retention: index the foreign keys that pruning old sync runs follows

Deleting a sync run sets `processed_message.sync_run_id` (ON DELETE SET NULL) and `sync_run.rerun_of_id` of
the runs pointing at it to NULL; without an index on each, every deleted run scans the whole table — the
message ledger holds one row per message ever seen.

Revision ID: 0009_retention
Revises: 0008_ux
"""

from alembic import op

revision = "0009_retention"
down_revision = "0008_ux"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_processed_message_sync_run_id", "processed_message", ["sync_run_id"])
    op.create_index("ix_sync_run_rerun_of_id", "sync_run", ["rerun_of_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_run_rerun_of_id", table_name="sync_run")
    op.drop_index("ix_processed_message_sync_run_id", table_name="processed_message")
