"""tiers and rate limits

Revision ID: 35bc092b25cb
Revises:
Create Date: 2026-12-07 17:06:00.000000+00:00

Tiers, their rate limits, and each user's tier (`users.tier_id`): the column is added to
the users' table here, so that a schema without tiers has none.
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
    # Batch mode: SQLite cannot add a foreign key in place, so the table is rebuilt there.
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("tier_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_users_tier_id"), ["tier_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_users_tier_id_tiers"), "tiers", ["tier_id"], ["id"], ondelete="RESTRICT"
        )


def downgrade() -> None:
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(batch.f("fk_users_tier_id_tiers"), type_="foreignkey")
        batch.drop_index(batch.f("ix_users_tier_id"))
        batch.drop_column("tier_id")
    op.drop_index(op.f("ix_rate_limits_tier_id"), table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_table("tiers")
