"""users tiers in their own table

Revision ID: 5c2e9a7d4b13
Revises: 31deb587dbce
Create Date: 2026-12-08 09:00:00.000000+00:00

A user's tier moves from `users.tier_id` to `user_tiers` (one row per user who has a tier),
so that the users table knows nothing of tiers and the feature can be removed. The
assignments are copied over; downgrading copies them back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c2e9a7d4b13"
down_revision: str | None = "31deb587dbce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_tiers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["tiers.id"], name=op.f("fk_user_tiers_tier_id_tiers"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_tiers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_tiers")),
    )
    op.create_index(op.f("ix_user_tiers_tier_id"), "user_tiers", ["tier_id"], unique=False)
    op.execute(
        "INSERT INTO user_tiers (user_id, tier_id) "
        "SELECT id, tier_id FROM users WHERE tier_id IS NOT NULL"
    )
    # Batch mode: SQLite drops a column that has a foreign key by rebuilding the table.
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(batch.f("fk_users_tier_id_tiers"), type_="foreignkey")
        batch.drop_index(batch.f("ix_users_tier_id"))
        batch.drop_column("tier_id")


def downgrade() -> None:
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("tier_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_users_tier_id"), ["tier_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_users_tier_id_tiers"), "tiers", ["tier_id"], ["id"], ondelete="RESTRICT"
        )
    op.execute(
        "UPDATE users SET tier_id = "
        "(SELECT tier_id FROM user_tiers WHERE user_tiers.user_id = users.id)"
    )
    op.drop_index(op.f("ix_user_tiers_tier_id"), table_name="user_tiers")
    op.drop_table("user_tiers")
