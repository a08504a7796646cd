"""partial index of active user ids

Revision ID: e399b809049e
Revises: 703f06277749
Create Date: 2026-12-02 21:46:53.622378+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e399b809049e"
down_revision: str | None = "703f06277749"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_users_live_id",
        "users",
        ["id"],
        unique=False,
        postgresql_where=sa.text("is_deleted IS false"),
        sqlite_where=sa.text("is_deleted IS 0"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_users_live_id",
        table_name="users",
        postgresql_where=sa.text("is_deleted IS false"),
        sqlite_where=sa.text("is_deleted IS 0"),
    )
