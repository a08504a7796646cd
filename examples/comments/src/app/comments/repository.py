from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, false, func, insert, select
from sqlalchemy.orm import aliased

from app.comments.models import Comment
from app.core.query import Query
from app.core.repository import Repository
from app.posts.models import Post
from app.users.models import User

Commenter = aliased(User, name="commenter")
PostAuthor = aliased(User, name="post_author")

# The read paths (core/query.py), one statement each, run by the unit of work in one round trip
# (core/db.py `Db.rows`). A post's comments are shown while the post is, under its author's
# username; a comment while its writer's account is live.
LIVE_POST = (
    select(Post.id)
    .join(PostAuthor, PostAuthor.id == Post.created_by_user_id)
    .where(
        Post.id == bindparam("post_id"),
        Post.is_deleted == false(),
        PostAuthor.username == bindparam("username"),
        PostAuthor.is_deleted == false(),
    )
)
SHOWN = (Comment.post_id == LIVE_POST.scalar_subquery(), Commenter.is_deleted == false())
READ_COLUMNS = (
    Comment.id,
    Comment.post_id,
    Comment.author_id,
    Commenter.username.label("author_username"),
    Comment.text,
    Comment.created_at,
)
_POST = Query(LIVE_POST)
# An offset page, oldest first, and its total in one round trip (the count runs once).
_PAGE = Query(
    select(
        *READ_COLUMNS,
        select(func.count())
        .select_from(Comment)
        .join(Commenter, Commenter.id == Comment.author_id)
        .where(*SHOWN)
        .correlate(None)
        .scalar_subquery()
        .label("total"),
    )
    .join(Commenter, Commenter.id == Comment.author_id)
    .where(*SHOWN)
    .order_by(Comment.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_COUNT = Query(
    select(func.count().label("total"))
    .select_from(Comment)
    .join(Commenter, Commenter.id == Comment.author_id)
    .where(*SHOWN)
)
# The authors of the posts a user commented on: whose pages show the user's comments.
_COMMENTED_UNDER = Query(
    select(PostAuthor.username)
    .distinct()
    .join(Post, Post.created_by_user_id == PostAuthor.id)
    .join(Comment, Comment.post_id == Post.id)
    .where(Comment.author_id == bindparam("author_id"))
)


class CommentRepository(Repository[Comment]):
    model = Comment

    async def page(
        self, username: str, post_id: int, offset: int, limit: int
    ) -> tuple[Sequence[Mapping[str, Any]], int]:
        """An offset page of the post's shown comments, oldest first, as CommentRead reads
        them, and how many there are."""
        rows = await self.db.rows(
            _PAGE, username=username, post_id=post_id, offset=offset, limit=limit
        )
        if rows:
            return rows, int(rows[0]["total"])
        # No comments, past the last page, or no such post: no row carries the total.
        counted = await self.db.row(_COUNT, username=username, post_id=post_id)
        return rows, int(counted["total"]) if counted else 0

    async def post_shown(self, username: str, post_id: int) -> bool:
        """Whether the post is shown under `username`."""
        return await self.db.row(_POST, username=username, post_id=post_id) is not None

    async def commented_under(self, author_id: int) -> list[str]:
        """The usernames of the authors of the posts the user commented on."""
        rows = await self.db.rows(_COMMENTED_UNDER, author_id=author_id)
        return [row["username"] for row in rows]

    async def live_post(self, username: str, post_id: int) -> tuple[Post, User] | None:
        """The post, shown under `username`, with its author; held (FOR SHARE on PostgreSQL)
        until the transaction ends, so that it is not purged under a new comment."""
        row = (
            await self.session.execute(
                select(Post, User)
                .join(User, User.id == Post.created_by_user_id)
                .where(
                    Post.id == post_id,
                    Post.is_deleted == false(),
                    User.username == username,
                    User.is_deleted == false(),
                )
                .with_for_update(read=True, of=Post)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def insert(self, **values: Any) -> Mapping[str, Any]:
        """Insert one comment; the new row comes back from the same statement (INSERT ...
        RETURNING), with no unit of work."""
        written = (Comment.id, Comment.post_id, Comment.author_id, Comment.text, Comment.created_at)
        result = await self.session.execute(insert(Comment).values(**values).returning(*written))
        return dict(result.mappings().one())

    async def of_post(self, post_id: int, comment_id: int) -> Comment | None:
        return await self.session.scalar(
            select(Comment).where(Comment.id == comment_id, Comment.post_id == post_id)
        )

    async def with_post_author(self, comment_ids: list[int]) -> list[tuple[Comment, str]]:
        """The comments among `comment_ids`, by id, each with its post's author's username;
        their rows held until the transaction ends."""
        if not comment_ids:
            return []
        rows = await self.session.execute(
            select(Comment, User.username)
            .join(Post, Post.id == Comment.post_id)
            .join(User, User.id == Post.created_by_user_id)
            .where(Comment.id.in_(comment_ids))
            .order_by(Comment.id)
            .with_for_update(of=Comment)
        )
        return [(comment, username) for comment, username in rows]

    async def delete_ownerless(self) -> list[str]:
        """Delete the comments whose writer was purged (their author_id set NULL); the
        usernames of the authors of the posts they were under."""
        orphaned = Comment.author_id.is_(None)
        authors = await self.session.scalars(
            select(User.username)
            .distinct()
            .join(Post, Post.created_by_user_id == User.id)
            .join(Comment, Comment.post_id == Post.id)
            .where(orphaned)
        )
        found = list(authors)
        await self.session.execute(delete(Comment).where(orphaned))
        return found
