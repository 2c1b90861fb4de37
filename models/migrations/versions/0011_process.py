"""process: the identity of the process working on a sync or deletion run

A flow process records who it is (boot id, pid namespace, pid, start time) when it opens its run, so a
reconciler on the same machine sees at once that the process is gone (a killed worker, a restarted
`receipts up`) instead of waiting for the heartbeat to go stale.

Revision ID: 0011_process
Revises: 0010_sweep
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_process"
down_revision = "0010_sweep"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("sync_run", "deletion_run"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("process", sa.String(length=160), nullable=True))


def downgrade() -> None:
    for table in ("deletion_run", "sync_run"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("process")
