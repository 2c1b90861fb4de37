"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

# BIGINT ids on PostgreSQL; SQLite auto-increments only a column declared INTEGER.
ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
TS = sa.DateTime(timezone=True)


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "business",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_api_token_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_business_id"), ["business_id"], unique=False)

    op.create_table(
        "mailbox_connection",
        sa.Column("id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("encrypted_refresh_token", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("sync_checkpoint", sa.JSON(), nullable=True),
        sa.Column("last_synced_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_mailbox_connection_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_connection")),
        sa.UniqueConstraint("business_id", "provider", "address", name=op.f("uq_mailbox_connection_business_id")),
    )
    with op.batch_alter_table("mailbox_connection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_connection_business_id"), ["business_id"], unique=False)

    op.create_table(
        "receipt",
        sa.Column("id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("mailbox_id", ID, nullable=True),
        sa.Column("source_message_id", sa.String(length=255), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("sender", sa.String(length=500), nullable=True),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("vendor", sa.String(length=300), nullable=True),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("receipt_date", sa.Date(), nullable=True),
        sa.Column("document_number", sa.String(length=100), nullable=True),
        sa.Column("is_credit_note", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("corrected_fields", sa.JSON(), nullable=True),
        sa.Column("sync_run_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["business.id"], name=op.f("fk_receipt_business_id_business"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailbox_connection.id"],
            name=op.f("fk_receipt_mailbox_id_mailbox_connection"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt")),
        sa.UniqueConstraint("business_id", "source_message_id", name=op.f("uq_receipt_business_id")),
    )
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.create_index("ix_receipt_business_date", ["business_id", "receipt_date", "id"], unique=False)
        batch_op.create_index("ix_receipt_business_received", ["business_id", "received_at", "id"], unique=False)
        batch_op.create_index("ix_receipt_business_status", ["business_id", "status", "id"], unique=False)

    op.create_table(
        "sync_run",
        sa.Column("id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("mailbox_id", ID, nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("rerun_of_id", ID, nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("messages_scanned", sa.Integer(), nullable=False),
        sa.Column("receipts_saved", sa.Integer(), nullable=False),
        sa.Column("duplicates_skipped", sa.Integer(), nullable=False),
        sa.Column("errors_count", sa.Integer(), nullable=False),
        sa.Column("messages_estimated", sa.Integer(), nullable=True),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("message_errors", sa.JSON(), nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_sync_run_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailbox_connection.id"],
            name=op.f("fk_sync_run_mailbox_id_mailbox_connection"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rerun_of_id"],
            ["sync_run.id"],
            name=op.f("fk_sync_run_rerun_of_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
    )
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.create_index("ix_sync_run_business_created", ["business_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_run_flow_run_id"), ["flow_run_id"], unique=False)
        batch_op.create_index(
            "uq_sync_run_one_active_per_business",
            ["business_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('queued', 'running')"),
            sqlite_where=sa.text("status IN ('queued', 'running')"),
        )

    op.create_table(
        "receipt_document",
        sa.Column("id", ID, nullable=False),
        sa.Column("receipt_id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=True),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_receipt_document_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["receipt.id"],
            name=op.f("fk_receipt_document_receipt_id_receipt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_document")),
        sa.UniqueConstraint("receipt_id", "content_hash", name=op.f("uq_receipt_document_receipt_id")),
    )
    with op.batch_alter_table("receipt_document", schema=None) as batch_op:
        batch_op.create_index("ix_receipt_document_business_hash", ["business_id", "content_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_document_receipt_id"), ["receipt_id"], unique=False)

    op.create_table(
        "processed_message",
        sa.Column("id", ID, nullable=False),
        sa.Column("business_id", ID, nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("processed_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
            name=op.f("fk_processed_message_business_id_business"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_message")),
        sa.UniqueConstraint("business_id", "message_id", name=op.f("uq_processed_message_business_id")),
    )


def downgrade() -> None:
    op.drop_table("processed_message")
    with op.batch_alter_table("receipt_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_document_receipt_id"))
        batch_op.drop_index("ix_receipt_document_business_hash")

    op.drop_table("receipt_document")
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_sync_run_one_active_per_business",
            postgresql_where=sa.text("status IN ('queued', 'running')"),
            sqlite_where=sa.text("status IN ('queued', 'running')"),
        )
        batch_op.drop_index(batch_op.f("ix_sync_run_flow_run_id"))
        batch_op.drop_index("ix_sync_run_business_created")

    op.drop_table("sync_run")
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_index("ix_receipt_business_status")
        batch_op.drop_index("ix_receipt_business_received")
        batch_op.drop_index("ix_receipt_business_date")

    op.drop_table("receipt")
    with op.batch_alter_table("mailbox_connection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailbox_connection_business_id"))

    op.drop_table("mailbox_connection")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_business_id"))

    op.drop_table("api_token")
    op.drop_table("business")
