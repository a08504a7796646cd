from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, UTCDateTime, utcnow


class ApiKey(IdMixin, Base):
    """A user's API key: `ak_<prefix>_<secret>`. The prefix finds the row; only the secret's
    SHA-256 is stored (the secret is 256 random bits, so a fast hash is as safe as a slow one
    and costs every request nothing)."""

    __tablename__ = "api_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The session (login) the key was created from: reuse detection ending that session
    # revokes the key. SET NULL: the daily purge deletes a session a day after it ends, and
    # an ended session can no longer be detected as reused, so the link has served its use.
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="SET NULL"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    # What the key may do beyond acting as its owner on the owner's own resources: at most
    # these permissions, and never more than the owner holds at the time of the request.
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    def __str__(self) -> str:
        return f"{self.name} (ak_{self.prefix}_…)"
