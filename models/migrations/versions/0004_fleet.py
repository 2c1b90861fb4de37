"""mailbox probes

The incremental round asks each mailbox for its history id (`getProfile`, 1 Gmail unit) and starts a sync only
when it moved; the last probe's time, history id and error are kept on the mailbox so the API and `doctor`
can show when a mailbox was last checked, and so a changed mailbox is told from an unchanged one.

Revision ID: 0004_fleet
Revises: 0005_sec (chained after the sec migration already on main)
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_fleet"
down_revision = "0005_sec"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("mailbox_connection") as batch_op:
        batch_op.add_column(sa.Column("last_probed_at", TS, nullable=True))
        batch_op.add_column(sa.Column("last_probed_history_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("last_probe_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_connection") as batch_op:
        batch_op.drop_column("last_probe_error")
        batch_op.drop_column("last_probed_history_id")
        batch_op.drop_column("last_probed_at")
