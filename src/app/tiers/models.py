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
