from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class RevokedToken(Base):
    """A token id that may no longer be used: logged out, or a refresh token already spent.

    Kept until the token would have expired anyway; every app process checks this table,
    so a revocation holds everywhere at once.
    """

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
