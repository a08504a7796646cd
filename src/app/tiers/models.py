from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, TimestampMixin


class Tier(IdMixin, TimestampMixin, Base):
    __tablename__ = "tiers"

    name: Mapped[str] = mapped_column(String(50), unique=True)


class RateLimit(IdMixin, TimestampMixin, Base):
    """A tier's limit for one path: `limit` requests per `period` seconds."""

    __tablename__ = "rate_limits"
    __table_args__ = (
        UniqueConstraint("tier_id", "name"),
        UniqueConstraint("tier_id", "path"),
        CheckConstraint('"limit" >= 1', name="limit_positive"),
        CheckConstraint("period >= 1", name="period_positive"),
    )

    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(255))
    limit: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer)


class UserTier(Base):
    """A user's tier; a user without a row has none (the default limits apply). A deleted
    account holds none: its row goes with the deletion (tiers/events.py), so a restored
    account starts without a tier, and the tier can be deleted."""

    __tablename__ = "user_tiers"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # RESTRICT: a tier that users still have cannot be deleted (the API answers 409).
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id", ondelete="RESTRICT"), index=True)
