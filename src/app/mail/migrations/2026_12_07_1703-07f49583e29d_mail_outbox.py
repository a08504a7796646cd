"""mail outbox

Revision ID: 07f49583e29d
Revises:
Create Date: 2026-12-07 17:03:00.000000+00:00

Messages waiting to be sent. It refers to no other table, so the branch depends on none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision: str = "07f49583e29d"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("mail",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(
        op.f("ix_mail_outbox_locked_until"), "mail_outbox", ["locked_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_outbox_locked_until"), table_name="mail_outbox")
    op.drop_table("mail_outbox")
