"""Rules for posts: a post lives under its author's username, and only its author changes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.db import Db, utcnow
from app.core.errors import Forbidden, NotFound
from app.core.events import publish
from app.core.pagination import cursor_page, decode_cursor
from app.core.state import Resources
from app.posts.events import PostDeleted, PostPurged, PostRestored, PostUpdated
from app.posts.models import Post
from app.posts.repository import PostRepository
from app.posts.schemas import PostCreate, PostRead, PostUpdate
from app.users import service as users
from app.users.models import User
from app.users.repository import UserRepository
from app.users.schemas import UserReadPrivate

POST_NOT_FOUND = "Post not found"


async def _authored(db: Db, username: str, post_id: int) -> tuple[User, Post]:
    author = await users.get_user(db, username)
    post = await PostRepository(db).get(author.id, post_id)
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return author, post


def _require_author(actor: UserReadPrivate, author: User) -> None:
    if actor.id != author.id:
        raise Forbidden("Only the author may do this")


async def create_post(db: Db, actor: UserReadPrivate, username: str, data: PostCreate) -> PostRead:
    if actor.username != username:  # only the author may post: 404 or 403, as for the others
        author = await users.get_user(db, username)
        _require_author(actor, author)
    row = await PostRepository(db).insert(
        created_by_user_id=actor.id,
        title=data.title,
        text=data.text,
        media_url=str(data.media_url) if data.media_url else None,
        created_at=utcnow(),
    )
    return PostRead.model_validate(row)


async def get_post(db: Db, username: str, post_id: int) -> PostRead:
    row = await PostRepository(db).read(username, post_id)
    if row is None:  # no such post, or no such author: the 404 says which
        await users.require_user(db, username)
        raise NotFound(POST_NOT_FOUND)
    return PostRead.model_validate(dict(row))


async def list_posts(db: Db, username: str, offset: int, limit: int) -> tuple[list[PostRead], int]:
    rows, total = await PostRepository(db).page(username, offset, limit)
    if not rows:  # no author, no posts, or past the last page
        await users.require_user(db, username)
    return [PostRead.model_validate(dict(row)) for row in rows], total


async def list_posts_by_cursor(
    db: Db, username: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    before = decode_cursor(cursor) if cursor else 2**31 - 1
    rows = await PostRepository(db).before(username, before, limit + 1)
    if not rows:
        await users.require_user(db, username)
    posts = [PostRead.model_validate(dict(row)) for row in rows]
    return cursor_page(posts, limit, lambda p: p.id)


async def update_post(
    db: Db,
    resources: Resources,
    actor: UserReadPrivate,
    username: str,
    post_id: int,
    data: PostUpdate,
) -> PostRead:
    """Edit a post: its author only. `PostUpdated` forgets its cached pages."""
    author, post = await _authored(db, username, post_id)
    _require_author(actor, author)
    await _edit(db, resources, post, username, data)
    return PostRead.model_validate(post)


async def _edit(db: Db, resources: Resources, post: Post, username: str, data: PostUpdate) -> None:
    for field, value in data.changes().items():
        setattr(post, field, value)
    await PostRepository(db).flush()
    await publish(db, resources, PostUpdated(post.id, post.created_by_user_id, username))


async def _soft_delete(db: Db, resources: Resources, post: Post, username: str) -> None:
    post.soft_delete()
    await PostRepository(db).flush()
    await publish(db, resources, PostDeleted(post.id, post.created_by_user_id, username))


async def delete_post(
    db: Db,
    resources: Resources,
    actor: UserReadPrivate,
    username: str,
    post_id: int,
    *,
    any_author: bool = False,
) -> None:
    """Soft delete: by the author, or by anybody with `any_author` (`posts.delete_any`)."""
    author, post = await _authored(db, username, post_id)
    if not any_author:
        _require_author(actor, author)
    await _soft_delete(db, resources, post, username)


async def hard_delete_post(db: Db, resources: Resources, username: str, post_id: int) -> None:
    """Also reaches deleted posts and posts of deleted users."""
    author = await UserRepository(db).get_by_username(username, include_deleted=True)
    repo = PostRepository(db)
    post = await repo.get(author.id, post_id, include_deleted=True) if author else None
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    event = PostPurged(post.id, post.created_by_user_id, username)
    await repo.delete(post)
    await publish(db, resources, event)


# --- operators' tools (the admin panel): any post, by id ------------------------------------


async def edit_post(db: Db, resources: Resources, post_id: int, data: PostUpdate) -> Post:
    """Edit any post, deleted ones too, as its author would (`PostUpdated`)."""
    found = await PostRepository(db).with_author(post_id)
    if found is None:
        raise NotFound(POST_NOT_FOUND)
    post, username = found
    await _edit(db, resources, post, username, data)
    return post


async def delete_posts(db: Db, resources: Resources, post_ids: Sequence[int]) -> int:
    """Soft-delete the live posts among `post_ids`, as `delete_post` does; returns how many."""
    found = await PostRepository(db).by_ids(post_ids, deleted=False)
    for post, username in found:
        await _soft_delete(db, resources, post, username)
    return len(found)


async def restore_posts(db: Db, resources: Resources, post_ids: Sequence[int]) -> int:
    """Show the deleted posts among `post_ids` again (`PostRestored`); returns how many."""
    found = await PostRepository(db).by_ids(post_ids, deleted=True)
    for post, _ in found:
        post.is_deleted, post.deleted_at = False, None
    await PostRepository(db).flush()
    for post, username in found:
        await publish(db, resources, PostRestored(post.id, post.created_by_user_id, username))
    return len(found)
