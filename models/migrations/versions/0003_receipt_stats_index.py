"""receipt stats covering index

The stats endpoint aggregates all of a business's receipts by status, currency and month. A business's rows
are scattered over the heap (mail arrives interleaved across businesses), so without this index each stats
query reads one heap page per receipt; with it the three queries are index-only scans of a few pages.
(SQLite ignores INCLUDE: there it is a plain index on business_id.)

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INCLUDE = ["status", "currency", "total", "receipt_date"]


def upgrade() -> None:
    op.create_index("ix_receipt_business_stats", "receipt", ["business_id"], postgresql_include=INCLUDE)


def downgrade() -> None:
    op.drop_index("ix_receipt_business_stats", table_name="receipt")
