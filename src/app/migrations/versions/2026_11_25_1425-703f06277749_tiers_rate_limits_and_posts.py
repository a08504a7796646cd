"""tiers rate limits and posts

Revision ID: 703f06277749
Revises: b1a8e1837b1f
Create Date: 2026-11-25 14:25:46.479453+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "703f06277749"
down_revision: str | None = "b1a8e1837b1f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tiers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
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
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
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
        "posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_posts_created_by_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    op.create_index(
        "ix_posts_author_live",
        "posts",
        ["created_by_user_id", "id"],
        unique=False,
        postgresql_where=sa.text("is_deleted = false"),
        sqlite_where=sa.text("is_deleted = 0"),
    )
    op.create_index(op.f("ix_posts_is_deleted"), "posts", ["is_deleted"], unique=False)
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
    op.drop_index(op.f("ix_posts_is_deleted"), table_name="posts")
    op.drop_index(
        "ix_posts_author_live",
        table_name="posts",
        postgresql_where=sa.text("is_deleted = false"),
        sqlite_where=sa.text("is_deleted = 0"),
    )
    op.drop_table("posts")
    op.drop_index(op.f("ix_rate_limits_tier_id"), table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_table("tiers")
