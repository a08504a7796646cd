from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, TimestampMixin


class Role(IdMixin, TimestampMixin, Base):
    """A named set of permissions (`resource.action` names, core/permissions.py)."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    # Sorted, distinct names; a name no domain declares any more grants nothing.
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)

    def __str__(self) -> str:
        return self.name


class UserRole(Base):
    """A role held by a user."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GrantsVersion(Base):
    """One row: the version of the roles and their assignments. Every change of either bumps
    it in the same transaction; the token check reads it with the user, and a process's
    cached permissions are used only under the version they were read at."""

    __tablename__ = "grants_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
