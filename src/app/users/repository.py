from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.sql.elements import Label

from app.core.query import Query
from app.core.repository import Repository
from app.users.models import User

# The read paths: one statement each, compiled once, outside any transaction (core/query.py).
# Every column of UserReadPrivate; the public view takes what it shows.
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

# What features read with the signed-in user (`Domain(caller_columns=...)`): labelled scalar
# expressions correlated on `users.id`, selected by the statements that check credentials
# (auth's token check, an API key's), so they cost no round trip of their own. app.domains
# registers them at import, before any of those statements first runs (core/query.py).
_CALLER_COLUMNS: dict[str, Label[Any]] = {}


def register_caller_columns(columns: Iterable[Label[Any]]) -> None:
    """Add columns to the signed-in user's row; a label already used is an error."""
    taken = {column.key for column in PRIVATE_COLUMNS}
    for column in columns:
        if column.name in taken or column.name in _CALLER_COLUMNS:
            raise ValueError(f"caller column {column.name!r} is declared twice")
        _CALLER_COLUMNS[column.name] = column


def caller_columns() -> tuple[Label[Any], ...]:
    return tuple(_CALLER_COLUMNS.values())


BY_USERNAME = Query(select(*PRIVATE_COLUMNS).where(User.username == bindparam("username"), LIVE))
COUNT_LIVE = Query(select(func.count().label("total")).select_from(User).where(LIVE))
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
PAGE = Query(
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
AFTER = Query(
    select(*PRIVATE_COLUMNS)
    .where(LIVE, User.id > bindparam("after"))
    .order_by(User.id)
    .limit(bindparam("limit"))
)


class UserRepository(Repository[User]):
    """Queries on users. Soft-deleted users are invisible unless a method says otherwise."""

    model = User

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

    async def get_by_login(self, login: str) -> User | None:
        """An active user by username, or by email when the login contains '@'."""
        column = User.email if "@" in login else User.username
        return await self.session.scalar(
            select(User).where(column == login.lower(), User.is_deleted.is_(False))
        )

    async def username_taken(self, username: str) -> bool:
        """Whether any user, deleted or not, holds this username."""
        return await self.crud.exists(self.session, username=username)

    async def email_taken(self, email: str) -> bool:
        """Whether any user, deleted or not, holds this email."""
        return await self.crud.exists(self.session, email=email)
