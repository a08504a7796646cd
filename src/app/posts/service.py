"""Rules for posts: a post lives under its author's username, and only its author changes it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Forbidden, NotFound
from app.core.pagination import cursor_page, decode_cursor
from app.posts.models import Post
from app.posts.repository import PostRepository
from app.posts.schemas import PostCreate, PostRead, PostUpdate
from app.users import service as users
from app.users.models import User
from app.users.repository import UserRepository

POST_NOT_FOUND = "Post not found"


async def _authored(session: AsyncSession, username: str, post_id: int) -> tuple[User, Post]:
    author = await users.get_user(session, username)
    post = await PostRepository(session).get(author.id, post_id)
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return author, post


def _require_author(actor: User, author: User) -> None:
    if actor.id != author.id:
        raise Forbidden("Only the author may do this")


async def create_post(
    session: AsyncSession, actor: User, username: str, data: PostCreate
) -> PostRead:
    author = await users.get_user(session, username)
    _require_author(actor, author)
    post = Post(
        created_by_user_id=author.id,
        title=data.title,
        text=data.text,
        media_url=str(data.media_url) if data.media_url else None,
    )
    return PostRead.model_validate(await PostRepository(session).add(post))


async def get_post(session: AsyncSession, username: str, post_id: int) -> PostRead:
    _, post = await _authored(session, username, post_id)
    return PostRead.model_validate(post)


async def list_posts(
    session: AsyncSession, username: str, offset: int, limit: int
) -> tuple[list[PostRead], int]:
    author = await users.get_user(session, username)
    posts, total = await PostRepository(session).page(author.id, offset, limit)
    return [PostRead.model_validate(p) for p in posts], total


async def list_posts_by_cursor(
    session: AsyncSession, username: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    before = decode_cursor(cursor) if cursor else None
    author = await users.get_user(session, username)
    posts = await PostRepository(session).after(author.id, before, limit + 1)
    return cursor_page([PostRead.model_validate(p) for p in posts], limit, lambda p: p.id)


async def update_post(
    session: AsyncSession, actor: User, username: str, post_id: int, data: PostUpdate
) -> PostRead:
    author, post = await _authored(session, username, post_id)
    _require_author(actor, author)
    for field, value in data.changes().items():
        setattr(post, field, value)
    await PostRepository(session).flush()
    return PostRead.model_validate(post)


async def delete_post(session: AsyncSession, actor: User, username: str, post_id: int) -> None:
    author, post = await _authored(session, username, post_id)
    _require_author(actor, author)
    post.soft_delete()


async def hard_delete_post(session: AsyncSession, username: str, post_id: int) -> None:
    """Superusers only: also reaches deleted posts and posts of deleted users."""
    author = await UserRepository(session).get_by_username(username, include_deleted=True)
    repo = PostRepository(session)
    post = await repo.get(author.id, post_id, include_deleted=True) if author else None
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    await repo.delete(post)
