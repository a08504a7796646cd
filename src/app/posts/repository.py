from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import false, select

from app.core.repository import Repository
from app.posts.models import Post


class PostRepository(Repository[Post]):
    """Queries on posts, always scoped to their author. Deleted posts are invisible unless
    a method says otherwise."""

    model = Post

    async def get(
        self, author_id: int, post_id: int, *, include_deleted: bool = False
    ) -> Post | None:
        query = select(Post).where(Post.id == post_id, Post.created_by_user_id == author_id)
        if not include_deleted:
            query = query.where(Post.is_deleted == false())
        return await self.session.scalar(query)

    async def page(self, author_id: int, offset: int, limit: int) -> tuple[Sequence[Post], int]:
        total = await self.crud.count(self.session, created_by_user_id=author_id, is_deleted=False)
        if offset >= total:
            return [], total
        rows = await self.session.scalars(
            self._live(author_id).order_by(Post.id.desc()).offset(offset).limit(limit)
        )
        return rows.all(), total

    async def after(self, author_id: int, before_id: int | None, limit: int) -> Sequence[Post]:
        """Up to `limit` posts older than `before_id` (newest first)."""
        query = self._live(author_id)
        if before_id is not None:
            query = query.where(Post.id < before_id)
        rows = await self.session.scalars(query.order_by(Post.id.desc()).limit(limit))
        return rows.all()

    def _live(self, author_id: int) -> Any:
        return select(Post).where(Post.created_by_user_id == author_id, Post.is_deleted == false())

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
