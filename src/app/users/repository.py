from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select

from app.core.query import Query
from app.core.repository import Repository
from app.users.models import User

# The read paths: one statement each, compiled once (core/query.py), run by the unit of work in
# one round trip outside any transaction (core/db.py `Db.rows`). Every column of
# UserReadPrivate; the public view takes what it shows.
PRIVATE_COLUMNS = (
    User.id,
    User.name,
    User.username,
    User.profile_image_url,
    User.created_at,
    User.email,
    User.email_verified,
    User.pending_email,
    User.is_superuser,
    User.updated_at,
)
LIVE = User.is_deleted.is_(False)
# Whether any user, deleted or not, holds a username or an email (the unique constraints decide
# a race; these give the clear answer first).
_USERNAME_HELD = Query(select(User.id).where(User.username == bindparam("username")).limit(1))
_EMAIL_HELD = Query(select(User.id).where(User.email == bindparam("email")).limit(1))
_BY_USERNAME = Query(select(*PRIVATE_COLUMNS).where(User.username == bindparam("username"), LIVE))
_COUNT_LIVE = Query(select(func.count().label("total")).select_from(User).where(LIVE))
# An offset page and the total in one round trip. The count is an uncorrelated subquery, run
# once (an InitPlan); the page is a deferred join: the offset walks the partial index
# ix_users_live_id (ids only, no table rows), then only the page's rows are read. Past the
# last page no row carries the total.
_PAGE_IDS = (
    select(User.id)
    .where(LIVE)
    .order_by(User.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
    .subquery("page")
)
_PAGE = Query(
    select(
        *PRIVATE_COLUMNS,
        select(func.count())
        .select_from(User)
        .where(LIVE)
        .correlate(None)
        .scalar_subquery()
        .label("total"),
    )
    .join(_PAGE_IDS, _PAGE_IDS.c.id == User.id)
    .order_by(User.id)
)
_AFTER = Query(
    select(*PRIVATE_COLUMNS)
    .where(LIVE, User.id > bindparam("after"))
    .order_by(User.id)
    .limit(bindparam("limit"))
)


class UserRepository(Repository[User]):
    """Queries on users. Soft-deleted users are invisible unless a method says otherwise."""

    model = User

    async def read(self, username: str) -> Mapping[str, Any] | None:
        """An active user by username, as a row of PRIVATE_COLUMNS."""
        return await self.db.row(_BY_USERNAME, username=username)

    async def page(self, offset: int, limit: int) -> tuple[Sequence[Mapping[str, Any]], int]:
        """Active users, oldest first, as rows of PRIVATE_COLUMNS, and how many there are."""
        rows = await self.db.rows(_PAGE, offset=offset, limit=limit)
        if rows:
            return rows, int(rows[0]["total"])
        counted = await self.db.row(_COUNT_LIVE)  # past the last page: no row carries the total
        return rows, int(counted["total"]) if counted else 0

    async def after(self, user_id: int, limit: int) -> Sequence[Mapping[str, Any]]:
        """Up to `limit` active users with a larger id than `user_id`, oldest first."""
        return await self.db.rows(_AFTER, after=user_id, limit=limit)

    async def get_by_username(
        self, username: str, *, include_deleted: bool = False, lock: bool = False
    ) -> User | None:
        """`lock`: hold the row (FOR UPDATE on PostgreSQL) until the transaction ends, so that
        changes of what the user owns are made one at a time."""
        query = select(User).where(User.username == username)
        if not include_deleted:
            query = query.where(User.is_deleted.is_(False))
        if lock:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def get_by_id(self, user_id: int) -> User | None:
        """A user by id, deleted or not."""
        return await self.session.get(User, user_id)

    async def by_ids(self, user_ids: Sequence[int], *, deleted: bool) -> list[User]:
        """The users among `user_ids` that are deleted (or not, with `deleted=False`), by id,
        their rows held until the transaction ends."""
        if not user_ids:
            return []
        rows = await self.session.scalars(
            select(User)
            .where(User.id.in_(user_ids), User.is_deleted.is_(deleted))
            .order_by(User.id)
            .with_for_update()
        )
        return list(rows)

    async def get_by_login(self, login: str) -> User | None:
        """An active user by username, or by email when the login contains '@'."""
        column = User.email if "@" in login else User.username
        return await self.session.scalar(
            select(User).where(column == login.lower(), User.is_deleted.is_(False))
        )

    async def username_taken(self, username: str) -> bool:
        """Whether any user, deleted or not, holds this username."""
        return await self.db.row(_USERNAME_HELD, username=username) is not None

    async def email_taken(self, email: str) -> bool:
        """Whether any user, deleted or not, holds this email."""
        return await self.db.row(_EMAIL_HELD, email=email) is not None
