"""Rules for comments: anybody signed in comments on a post that is shown; a comment is
deleted by its writer or by a holder of `comments.delete_any`. Every write publishes its
event (events.py), on which the post's cached pages go, whoever wrote: the API or the admin
panel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.comments.events import CommentAdded, CommentDeleted
from app.comments.models import Comment
from app.comments.permissions import DELETE_ANY
from app.comments.repository import CommentRepository
from app.comments.schemas import CommentCreate, CommentRead
from app.core.db import Db, utcnow
from app.core.errors import Forbidden, NotFound
from app.core.events import publish
from app.core.identity import Caller
from app.core.messages import Templates
from app.core.state import Resources
from app.users.schemas import UserReadPrivate

POST_NOT_FOUND = "Post not found"
COMMENT_NOT_FOUND = "Comment not found"
TEMPLATES = Templates(Path(__file__).with_name("templates"))


async def create_comment(
    db: Db,
    resources: Resources,
    actor: UserReadPrivate,
    username: str,
    post_id: int,
    data: CommentCreate,
) -> CommentRead:
    """Comment on `username`'s post; its author hears of it by mail (when the mail feature is
    installed), unless they wrote the comment."""
    repo = CommentRepository(db)
    found = await repo.live_post(username, post_id)
    if found is None:
        raise NotFound(POST_NOT_FOUND)
    post, author = found
    row = await repo.insert(
        post_id=post.id, author_id=actor.id, text=data.text, created_at=utcnow()
    )
    await publish(db, resources, CommentAdded(row["id"], post.id, author.username))
    if author.id != actor.id:
        mail = TEMPLATES.render(
            "new_comment",
            to=author.email,
            name=author.name,
            commenter=actor.username,
            title=post.title,
            text=data.text,
        )
        await publish(db, resources, mail)
    return CommentRead.model_validate({**row, "author_username": actor.username})


async def list_comments(
    db: Db, username: str, post_id: int, offset: int, limit: int
) -> tuple[list[CommentRead], int]:
    repo = CommentRepository(db)
    rows, total = await repo.page(username, post_id, offset, limit)
    if not rows and not await repo.post_shown(username, post_id):
        raise NotFound(POST_NOT_FOUND)
    return [CommentRead.model_validate(dict(row)) for row in rows], total


async def _delete(db: Db, resources: Resources, comment: Comment, username: str) -> None:
    event = CommentDeleted(comment.id, comment.post_id, username)
    await CommentRepository(db).delete(comment)
    await publish(db, resources, event)


async def delete_comment(
    db: Db,
    resources: Resources,
    caller: Caller[UserReadPrivate],
    username: str,
    post_id: int,
    comment_id: int,
) -> None:
    """Delete a comment of a shown post: its writer, or a holder of `comments.delete_any`."""
    repo = CommentRepository(db)
    if await repo.live_post(username, post_id) is None:
        raise NotFound(POST_NOT_FOUND)
    comment = await repo.of_post(post_id, comment_id)
    if comment is None:
        raise NotFound(COMMENT_NOT_FOUND)
    if comment.author_id != caller.user.id and not await caller.can(DELETE_ANY.name):
        raise Forbidden("Only its writer or a moderator may delete a comment")
    await _delete(db, resources, comment, username)


# --- operators' tools (the admin panel): any comment, by id ---------------------------------


async def delete_comments(db: Db, resources: Resources, comment_ids: Sequence[int]) -> int:
    """Delete the comments among `comment_ids`, as `delete_comment` does; returns how many."""
    found = await CommentRepository(db).with_post_author(list(comment_ids))
    for comment, username in found:
        await _delete(db, resources, comment, username)
    return len(found)
