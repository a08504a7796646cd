from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from app.core.repository import Repository
from app.users.models import User


class UserRepository(Repository[User]):
    """Queries on users. Soft-deleted users are invisible unless a method says otherwise."""

    model = User

    async def get_by_username(self, username: str, *, include_deleted: bool = False) -> User | None:
        query = select(User).where(User.username == username)
        if not include_deleted:
            query = query.where(User.is_deleted.is_(False))
        return await self.session.scalar(query)

    async def get_by_login(self, login: str) -> User | None:
        """An active user by username, or by email when the login contains '@'."""
        column = User.email if "@" in login else User.username
        return await self.session.scalar(
            select(User).where(column == login.lower(), User.is_deleted.is_(False))
        )

    async def list_active(self, offset: int, limit: int) -> tuple[Sequence[User], int]:
        total = await self.crud.count(self.session, is_deleted=False)
        if offset >= total:
            return [], total
        rows = await self.session.scalars(
            select(User)
            .where(User.is_deleted.is_(False))
            .order_by(User.id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), total

    async def after(self, after_id: int | None, limit: int) -> Sequence[User]:
        """Up to `limit` active users with ids above `after_id`, by id (a primary-key range)."""
        query = select(User).where(User.is_deleted.is_(False))
        if after_id is not None:
            query = query.where(User.id > after_id)
        rows = await self.session.scalars(query.order_by(User.id).limit(limit))
        return rows.all()

    async def username_taken(self, username: str) -> bool:
        """Whether any user, deleted or not, holds this username."""
        return await self.crud.exists(self.session, username=username)

    async def email_taken(self, email: str) -> bool:
        """Whether any user, deleted or not, holds this email."""
        return await self.crud.exists(self.session, email=email)
