"""api token expiry

API tokens get an expiry time (NULL: never, for tokens created before this revision); `authenticate` refuses
expired ones, and `receipts token list` / `revoke` and the admin API manage them.

Revision ID: 0005_sec
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_sec"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_token", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("api_token", "expires_at")
