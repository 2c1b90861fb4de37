"""deletion runs and the documents they could not delete

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

# BIGINT ids on PostgreSQL; SQLite auto-increments only a column declared INTEGER.
ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("status IN ('queued', 'running', 'paused')")


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deletion_run",
        sa.Column("id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("selector", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("attachments_deleted", sa.Integer(), nullable=False),
        sa.Column("attachments_failed", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_deletion_run_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_run")),
    )
    with op.batch_alter_table("deletion_run", schema=None) as batch_op:
        batch_op.create_index("ix_deletion_run_business_created", ["business_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deletion_run_flow_run_id"), ["flow_run_id"], unique=False)
        batch_op.create_index(
            "uq_deletion_run_one_active_per_business",
            ["business_id"],
            unique=True,
            postgresql_where=ACTIVE,
            sqlite_where=ACTIVE,
        )

    op.create_table(
        "deletion_failure",
        sa.Column("id", ID, nullable=False),
        sa.Column("deletion_run_id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("receipt_id", ID, nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["deletion_run_id"],
            ["deletion_run.id"],
            name=op.f("fk_deletion_failure_deletion_run_id_deletion_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_deletion_failure_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["receipt.id"],
            name=op.f("fk_deletion_failure_receipt_id_receipt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_failure")),
        sa.UniqueConstraint(
            "deletion_run_id",
            "receipt_id",
            "storage_key",
            name=op.f("uq_deletion_failure_deletion_run_id"),
        ),
    )
    with op.batch_alter_table("deletion_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deletion_failure_receipt_id"), ["receipt_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deletion_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deletion_failure_receipt_id"))
    op.drop_table("deletion_failure")
    with op.batch_alter_table("deletion_run", schema=None) as batch_op:
        batch_op.drop_index("uq_deletion_run_one_active_per_business", postgresql_where=ACTIVE, sqlite_where=ACTIVE)
        batch_op.drop_index(batch_op.f("ix_deletion_run_flow_run_id"))
        batch_op.drop_index("ix_deletion_run_business_created")
    op.drop_table("deletion_run")
