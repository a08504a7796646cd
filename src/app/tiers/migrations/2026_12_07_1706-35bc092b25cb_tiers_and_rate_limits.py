"""tiers and rate limits

Revision ID: 35bc092b25cb
Revises:
Create Date: 2026-12-07 17:06:00.000000+00:00

Tiers, their rate limits, and each user's tier (`user_tiers`, one row per user who has a
tier): the users' table knows nothing of tiers, so that a schema without them has none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision: str = "35bc092b25cb"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("tiers",)
depends_on: str | Sequence[str] | None = "users"


def upgrade() -> None:
    op.create_table(
        "tiers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tiers")),
        sa.UniqueConstraint("name", name=op.f("uq_tiers_name")),
    )
    op.create_table(
        "rate_limits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint('"limit" >= 1', name=op.f("ck_rate_limits_limit_positive")),
        sa.CheckConstraint("period >= 1", name=op.f("ck_rate_limits_period_positive")),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["tiers.id"], name=op.f("fk_rate_limits_tier_id_tiers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limits")),
        sa.UniqueConstraint("tier_id", "name", name=op.f("uq_rate_limits_tier_id_name")),
        sa.UniqueConstraint("tier_id", "path", name=op.f("uq_rate_limits_tier_id_path")),
    )
    op.create_index(op.f("ix_rate_limits_tier_id"), "rate_limits", ["tier_id"], unique=False)
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


def downgrade() -> None:
    op.drop_index(op.f("ix_user_tiers_tier_id"), table_name="user_tiers")
    op.drop_table("user_tiers")
    op.drop_index(op.f("ix_rate_limits_tier_id"), table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_table("tiers")
