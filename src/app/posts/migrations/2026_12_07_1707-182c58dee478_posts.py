"""posts

Revision ID: 182c58dee478
Revises:
Create Date: 2026-12-07 17:07:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision: str = "182c58dee478"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("posts",)
depends_on: str | Sequence[str] | None = "users"


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
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


def downgrade() -> None:
    op.drop_index(op.f("ix_posts_is_deleted"), table_name="posts")
    op.drop_index("ix_posts_author_live", table_name="posts")
    op.drop_table("posts")
