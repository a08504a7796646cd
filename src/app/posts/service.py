"""Rules for posts: a post lives under its author's username, and only its author changes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.db import utcnow
from app.core.errors import Forbidden, NotFound
from app.core.events import publish
from app.core.pagination import cursor_page, decode_cursor
from app.core.state import Resources
from app.posts.events import PostDeleted, PostPurged, PostRestored, PostUpdated
from app.posts.models import Post
from app.posts.repository import BEFORE, COUNT, PAGE, POST, PostRepository
from app.posts.schemas import PostCreate, PostRead, PostUpdate
from app.users import service as users
from app.users.models import User
from app.users.repository import BY_USERNAME, UserRepository
from app.users.schemas import UserReadPrivate

POST_NOT_FOUND = "Post not found"


async def _authored(session: AsyncSession, username: str, post_id: int) -> tuple[User, Post]:
    author = await users.get_user(session, username)
    post = await PostRepository(session).get(author.id, post_id)
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return author, post


def _require_author(actor: UserReadPrivate, author: User) -> None:
    if actor.id != author.id:
        raise Forbidden("Only the author may do this")


async def create_post(
    session: AsyncSession, actor: UserReadPrivate, username: str, data: PostCreate
) -> PostRead:
    if actor.username != username:  # only the author may post: 404 or 403, as for the others
        author = await users.get_user(session, username)
        _require_author(actor, author)
    row = await PostRepository(session).insert(
        created_by_user_id=actor.id,
        title=data.title,
        text=data.text,
        media_url=str(data.media_url) if data.media_url else None,
        created_at=utcnow(),
    )
    return PostRead.model_validate(row)


async def _author_exists(engine: AsyncEngine, username: str) -> None:
    """Raise the 404 for a missing author (an empty read is then a missing post or page)."""
    if await BY_USERNAME.one(engine, username=username) is None:
        raise NotFound(users.USER_NOT_FOUND)


async def get_post(engine: AsyncEngine, username: str, post_id: int) -> PostRead:
    row = await POST.one(engine, username=username, post_id=post_id)
    if row is None:
        await _author_exists(engine, username)
        raise NotFound(POST_NOT_FOUND)
    return PostRead.model_validate(dict(row))


async def list_posts(
    engine: AsyncEngine, username: str, offset: int, limit: int
) -> tuple[list[PostRead], int]:
    rows = await PAGE.all(engine, username=username, offset=offset, limit=limit)
    if rows:
        total = int(rows[0]["total"])
    else:  # no author, no posts, or past the last page: no row carries the total
        await _author_exists(engine, username)
        counted = await COUNT.one(engine, username=username)
        total = int(counted["total"]) if counted else 0
    return [PostRead.model_validate(dict(row)) for row in rows], total


async def list_posts_by_cursor(
    engine: AsyncEngine, username: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    before = decode_cursor(cursor) if cursor else 2**31 - 1
    rows = await BEFORE.all(engine, username=username, before=before, limit=limit + 1)
    if not rows:
        await _author_exists(engine, username)
    posts = [PostRead.model_validate(dict(row)) for row in rows]
    return cursor_page(posts, limit, lambda p: p.id)


async def update_post(
    session: AsyncSession,
    resources: Resources,
    actor: UserReadPrivate,
    username: str,
    post_id: int,
    data: PostUpdate,
) -> PostRead:
    """Edit a post: its author only. `PostUpdated` forgets its cached pages."""
    author, post = await _authored(session, username, post_id)
    _require_author(actor, author)
    await _edit(session, resources, post, username, data)
    return PostRead.model_validate(post)


async def _edit(
    session: AsyncSession, resources: Resources, post: Post, username: str, data: PostUpdate
) -> None:
    for field, value in data.changes().items():
        setattr(post, field, value)
    await PostRepository(session).flush()
    await publish(session, resources, PostUpdated(post.id, post.created_by_user_id, username))


async def _soft_delete(
    session: AsyncSession, resources: Resources, post: Post, username: str
) -> None:
    post.soft_delete()
    await PostRepository(session).flush()
    await publish(session, resources, PostDeleted(post.id, post.created_by_user_id, username))


async def delete_post(
    session: AsyncSession,
    resources: Resources,
    actor: UserReadPrivate,
    username: str,
    post_id: int,
    *,
    any_author: bool = False,
) -> None:
    """Soft delete: by the author, or by anybody with `any_author` (`posts.delete_any`)."""
    author, post = await _authored(session, username, post_id)
    if not any_author:
        _require_author(actor, author)
    await _soft_delete(session, resources, post, username)


async def hard_delete_post(
    session: AsyncSession, resources: Resources, username: str, post_id: int
) -> None:
    """Also reaches deleted posts and posts of deleted users."""
    author = await UserRepository(session).get_by_username(username, include_deleted=True)
    repo = PostRepository(session)
    post = await repo.get(author.id, post_id, include_deleted=True) if author else None
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    event = PostPurged(post.id, post.created_by_user_id, username)
    await repo.delete(post)
    await publish(session, resources, event)


# --- operators' tools (the admin panel): any post, by id ------------------------------------


async def edit_post(
    session: AsyncSession, resources: Resources, post_id: int, data: PostUpdate
) -> Post:
    """Edit any post, deleted ones too, as its author would (`PostUpdated`)."""
    found = await PostRepository(session).with_author(post_id)
    if found is None:
        raise NotFound(POST_NOT_FOUND)
    post, username = found
    await _edit(session, resources, post, username, data)
    return post


async def delete_posts(session: AsyncSession, resources: Resources, post_ids: Sequence[int]) -> int:
    """Soft-delete the live posts among `post_ids`, as `delete_post` does; returns how many."""
    found = await PostRepository(session).by_ids(post_ids, deleted=False)
    for post, username in found:
        await _soft_delete(session, resources, post, username)
    return len(found)


async def restore_posts(
    session: AsyncSession, resources: Resources, post_ids: Sequence[int]
) -> int:
    """Show the deleted posts among `post_ids` again (`PostRestored`); returns how many."""
    found = await PostRepository(session).by_ids(post_ids, deleted=True)
    for post, _ in found:
        post.is_deleted, post.deleted_at = False, None
    await PostRepository(session).flush()
    for post, username in found:
        await publish(session, resources, PostRestored(post.id, post.created_by_user_id, username))
    return len(found)
