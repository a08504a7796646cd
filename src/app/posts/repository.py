from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastcrud import FastCRUD
from sqlalchemy import delete, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.posts.models import Post


class PostRepository:
    """Queries on posts, always scoped to their author. Deleted posts are invisible unless
    a method says otherwise."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._crud: FastCRUD[Post, Any, Any, Any, Any, Any] = FastCRUD(Post)

    async def get(
        self, author_id: int, post_id: int, *, include_deleted: bool = False
    ) -> Post | None:
        query = select(Post).where(Post.id == post_id, Post.created_by_user_id == author_id)
        if not include_deleted:
            query = query.where(Post.is_deleted == false())
        return await self.session.scalar(query)

    async def page(self, author_id: int, offset: int, limit: int) -> tuple[Sequence[Post], int]:
        total = await self._crud.count(self.session, created_by_user_id=author_id, is_deleted=False)
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

    async def add(self, post: Post) -> Post:
        self.session.add(post)
        await self.session.flush()
        return post

    async def flush(self) -> None:
        await self.session.flush()

    async def hard_delete(self, post: Post) -> None:
        await self.session.execute(delete(Post).where(Post.id == post.id))

    async def purge_deleted(self, deleted_before: datetime, limit: int) -> int:
        """Hard-delete up to `limit` posts soft-deleted before `deleted_before`; the count."""
        doomed = (
            select(Post.id)
            .where(Post.is_deleted.is_(True), Post.deleted_at < deleted_before)
            .order_by(Post.id)
            .limit(limit)
        )
        ids = list((await self.session.scalars(doomed)).all())
        if ids:
            await self.session.execute(delete(Post).where(Post.id.in_(ids)))
        return len(ids)
