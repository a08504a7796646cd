from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, UTCDateTime, utcnow


class AuthSession(IdMixin, Base):
    """One login: the family of refresh tokens that descend from it.

    Only the newest refresh token of the family (`refresh_jti`) may be spent. Every token
    carries the session's id, and every request checks that the session is not revoked, so
    ending a session ends its access tokens too, in every process at once.
    """

    __tablename__ = "auth_sessions"
    # AUTOINCREMENT on SQLite: a session id is never reused.
    __table_args__ = (
        # A user's live sessions, newest first, from the index alone: the per-user cap at
        # login and the session list read only these entries.
        Index(
            "ix_auth_sessions_live_user",
            "user_id",
            "id",
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the newest refresh token expires: an unused session ends then.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(255), default=None)
