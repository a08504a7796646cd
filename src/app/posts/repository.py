from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, false, func, insert, select

from app.core.query import Query
from app.core.repository import Repository
from app.posts.models import Post
from app.users.models import User
from app.users.repository import LIVE as LIVE_USER

# The read paths (core/query.py): one statement each, the author named by username inside it,
# run by the unit of work in one round trip (core/db.py `Db.rows`). An empty answer means no
# such post or no such author; the service tells them apart.
READ_COLUMNS = (
    Post.id,
    Post.title,
    Post.text,
    Post.media_url,
    Post.created_by_user_id,
    Post.created_at,
    Post.updated_at,
)
AUTHOR_ID = (
    select(User.id).where(User.username == bindparam("username"), LIVE_USER).scalar_subquery()
)
LIVE_BY_AUTHOR = (Post.created_by_user_id == AUTHOR_ID, Post.is_deleted == false())
_POST = Query(select(*READ_COLUMNS).where(Post.id == bindparam("post_id"), *LIVE_BY_AUTHOR))
# An offset page and its total in one round trip (the count runs once, as an InitPlan).
_PAGE = Query(
    select(
        *READ_COLUMNS,
        select(func.count())
        .select_from(Post)
        .where(*LIVE_BY_AUTHOR)
        .correlate(None)
        .scalar_subquery()
        .label("total"),
    )
    .where(*LIVE_BY_AUTHOR)
    .order_by(Post.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_COUNT = Query(select(func.count().label("total")).select_from(Post).where(*LIVE_BY_AUTHOR))
# Newest first, older than the cursor's post (2**31 - 1 when there is no cursor).
_BEFORE = Query(
    select(*READ_COLUMNS)
    .where(*LIVE_BY_AUTHOR, Post.id < bindparam("before"))
    .order_by(Post.id.desc())
    .limit(bindparam("limit"))
)


class PostRepository(Repository[Post]):
    """Queries on posts, always scoped to their author. Deleted posts are invisible unless
    a method says otherwise."""

    model = Post

    async def read(self, username: str, post_id: int) -> Mapping[str, Any] | None:
        """A live post of the live user `username`, as PostRead reads it."""
        return await self.db.row(_POST, username=username, post_id=post_id)

    async def page(
        self, username: str, offset: int, limit: int
    ) -> tuple[Sequence[Mapping[str, Any]], int]:
        """An offset page of `username`'s live posts, newest first, and how many there are
        (none for an unknown author)."""
        rows = await self.db.rows(_PAGE, username=username, offset=offset, limit=limit)
        if rows:
            return rows, int(rows[0]["total"])
        counted = await self.db.row(_COUNT, username=username)  # past the last page
        return rows, int(counted["total"]) if counted else 0

    async def before(self, username: str, post_id: int, limit: int) -> Sequence[Mapping[str, Any]]:
        """Up to `limit` of `username`'s live posts older than `post_id`, newest first."""
        return await self.db.rows(_BEFORE, username=username, before=post_id, limit=limit)

    async def insert(self, **values: Any) -> Mapping[str, Any]:
        """Insert one post in the session's transaction; the new row, as PostRead reads it,
        comes back from the same statement (INSERT ... RETURNING), with no unit of work."""
        result = await self.session.execute(insert(Post).values(**values).returning(*READ_COLUMNS))
        return dict(result.mappings().one())

    async def get(
        self, author_id: int, post_id: int, *, include_deleted: bool = False
    ) -> Post | None:
        query = select(Post).where(Post.id == post_id, Post.created_by_user_id == author_id)
        if not include_deleted:
            query = query.where(Post.is_deleted == false())
        return await self.session.scalar(query)

    async def with_author(self, post_id: int) -> tuple[Post, str] | None:
        """A post by id, deleted or not, with its author's username."""
        row = (
            await self.session.execute(
                select(Post, User.username)
                .join(User, User.id == Post.created_by_user_id)
                .where(Post.id == post_id)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def by_ids(self, post_ids: Sequence[int], *, deleted: bool) -> list[tuple[Post, str]]:
        """The posts among `post_ids` that are deleted (or not, with `deleted=False`), by id,
        each with its author's username; their rows held until the transaction ends."""
        if not post_ids:
            return []
        rows = await self.session.execute(
            select(Post, User.username)
            .join(User, User.id == Post.created_by_user_id)
            .where(Post.id.in_(post_ids), Post.is_deleted.is_(deleted))
            .order_by(Post.id)
            .with_for_update(of=Post)
        )
        return [(post, username) for post, username in rows]

    async def purge_deleted(self, deleted_before: datetime, limit: int) -> list[Post]:
        """Hard-delete up to `limit` posts soft-deleted before `deleted_before`; returns them."""
        doomed = (
            select(Post)
            .where(Post.is_deleted.is_(True), Post.deleted_at < deleted_before)
            .order_by(Post.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        posts = list((await self.session.scalars(doomed)).all())
        for post in posts:
            await self.session.delete(post)
        await self.session.flush()
        return posts
