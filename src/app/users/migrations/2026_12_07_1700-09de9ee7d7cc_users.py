"""users

Revision ID: 09de9ee7d7cc
Revises:
Create Date: 2026-12-07 17:00:00.000000+00:00

The base branch: every other branch that refers to a user depends on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision: str = "09de9ee7d7cc"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("users",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("username", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("pending_email", sa.String(length=320), nullable=True),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("profile_image_url", sa.String(length=2048), nullable=True),
        sa.Column("is_superuser", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_users_is_deleted"), "users", ["is_deleted"], unique=False)
    op.create_index(
        "ix_users_live_id",
        "users",
        ["id"],
        unique=False,
        postgresql_where=sa.text("is_deleted IS false"),
        sqlite_where=sa.text("is_deleted IS 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_live_id", table_name="users")
    op.drop_index(op.f("ix_users_is_deleted"), table_name="users")
    op.drop_table("users")
