"""link tokens

Revision ID: 2e9146a8206e
Revises:
Create Date: 2026-12-07 17:02:00.000000+00:00

The tokens of the links the account mails carry (email verification and change, password
reset). A branch of its own, needing only the users: the file moves with the mail-based
account flows as it is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision: str = "2e9146a8206e"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("accounts",)
depends_on: str | Sequence[str] | None = "users"


def upgrade() -> None:
    op.create_table(
        "link_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_link_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_link_tokens_token_hash")),
    )
    op.create_index(op.f("ix_link_tokens_expires_at"), "link_tokens", ["expires_at"], unique=False)
    op.create_index(op.f("ix_link_tokens_user_id"), "link_tokens", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_link_tokens_user_id"), table_name="link_tokens")
    op.drop_index(op.f("ix_link_tokens_expires_at"), table_name="link_tokens")
    op.drop_table("link_tokens")
