"""api keys remember the session they were created from

Revision ID: 31deb587dbce
Revises: cbec80ff96fe
Create Date: 2026-12-07 14:48:08.761641+00:00

`api_keys.session_id`: the session (login) a key was created from, so that reuse detection
ending that session revokes the key. Nullable, and set to NULL when the daily purge deletes
the session; keys created before this revision have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "31deb587dbce"
down_revision: str | None = "cbec80ff96fe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite adds a foreign key, and drops a column that has one, by rebuilding
    # the table; PostgreSQL runs each statement as it is.
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_api_keys_session_id"), ["session_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_api_keys_session_id_auth_sessions"),
            "auth_sessions",
            ["session_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(batch.f("fk_api_keys_session_id_auth_sessions"), type_="foreignkey")
        batch.drop_index(batch.f("ix_api_keys_session_id"))
        batch.drop_column("session_id")
