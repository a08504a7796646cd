from __future__ import annotations

from sqlalchemy import Boolean, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class User(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "users"
    # AUTOINCREMENT on SQLite: ids are never reused, so a token naming a deleted user's id
    # can never point at somebody registered later.
    __table_args__ = (
        # The active users in id order, index-only: offset pages walk this index, not the
        # table (see users/repository.py `_PAGE`).
        Index(
            "ix_users_live_id",
            "id",
            postgresql_where=text("is_deleted IS false"),
            sqlite_where=text("is_deleted IS 0"),
        ),
        {"sqlite_autoincrement": True},
    )

    name: Mapped[str] = mapped_column(String(30))
    username: Mapped[str] = mapped_column(String(20), unique=True)
    # Stored lower-cased, so the unique constraint is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # True once the user followed a verification link sent to `email`
    email_verified: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # A new address asked for, kept apart until its verification link is followed
    pending_email: Mapped[str | None] = mapped_column(String(320), default=None)
    hashed_password: Mapped[str] = mapped_column(String(255))
    profile_image_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
