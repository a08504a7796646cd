from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status

from app.auth.limits import RATE_LIMITED
from app.core.db import DbDep
from app.core.errors import Forbidden, NotFound, Unauthorized, error_responses
from app.core.identity import require_permissions
from app.core.pagination import (
    Cursor,
    CursorLimit,
    CursorPage,
    ItemsPerPage,
    Page,
    PageNumber,
    PageParams,
    wants_cursor,
)
from app.core.params import ResourceId
from app.core.state import ResourcesDep
from app.platform.cache import cache, invalidates
from app.posts import service
from app.posts.permissions import DELETE_ANY, PURGE
from app.posts.schemas import PostCreate, PostRead, PostUpdate
from app.users.dependencies import CurrentCaller, CurrentUser

router = APIRouter(tags=["posts"])

WRITE_ERRORS = error_responses(Unauthorized, Forbidden, NotFound)

# The cache keys of the posts domain: one post under `{POST_KEY}:{id}`, and every page of an
# author's posts in the `{username}_posts` namespace. A new post forgets its author's pages
# here (@invalidates); edits and deletions, which the admin panel makes too, publish events on
# which posts/domain.py forgets them.
POST_KEY = "{username}_post_cache"
LIST_KEY = (
    "{username}_posts:page_{page}:items_per_page:{items_per_page}:cursor_{cursor}:limit_{limit}"
)
POST_PATTERN = POST_KEY + ":*"
LIST_PATTERN = "{username}_posts:*"


@router.post(
    "/{username}/post",
    status_code=status.HTTP_201_CREATED,
    response_model=PostRead,
    dependencies=[RATE_LIMITED],
    responses=WRITE_ERRORS,
)
@invalidates(patterns=[LIST_PATTERN])
async def create_post(username: str, data: PostCreate, db: DbDep, actor: CurrentUser) -> PostRead:
    """Publish a post as `username` (that user only)."""
    return await service.create_post(db, actor, username, data)


@router.get(
    "/{username}/posts",
    response_model=Page[PostRead] | CursorPage[PostRead],
    responses=error_responses(NotFound),
)
@cache(LIST_KEY, resource_id_name="username", expiration=60, serve_hits_early=True)
async def list_posts(
    request: Request,
    username: str,
    db: DbDep,
    page: PageNumber = 1,
    items_per_page: ItemsPerPage = 10,
    cursor: Cursor = None,
    limit: CursorLimit = None,
) -> dict[str, Any]:
    """A user's posts, newest first: offset pages (`page`, `items_per_page`) or cursor pages
    (`limit`, then `cursor` = the previous page's `next_cursor`)."""
    if wants_cursor(request, cursor, limit):
        return await service.list_posts_by_cursor(db, username, cursor, limit or 10)
    params = PageParams(page=page, items_per_page=items_per_page)
    posts, total = await service.list_posts(db, username, params.offset, items_per_page)
    return params.respond(posts, total)


@router.get("/{username}/post/{id}", response_model=PostRead, responses=error_responses(NotFound))
@cache(POST_KEY, resource_id_name="id", serve_hits_early=True)
async def get_post(username: str, id: ResourceId, db: DbDep) -> PostRead:
    """One post, under its author's username."""
    return await service.get_post(db, username, id)


@router.patch("/{username}/post/{id}", response_model=PostRead, responses=WRITE_ERRORS)
async def update_post(
    username: str,
    id: ResourceId,
    data: PostUpdate,
    db: DbDep,
    resources: ResourcesDep,
    actor: CurrentUser,
) -> PostRead:
    """Edit a post (its author only)."""
    return await service.update_post(db, resources, actor, username, id, data)


@router.delete(
    "/{username}/post/{id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE_ERRORS
)
async def delete_post(
    username: str,
    id: ResourceId,
    db: DbDep,
    resources: ResourcesDep,
    caller: CurrentCaller,
) -> None:
    """Delete a post (soft delete): its author, or a holder of `posts.delete_any`."""
    any_author = caller.user.username != username and await caller.can(DELETE_ANY.name)
    await service.delete_post(db, resources, caller.user, username, id, any_author=any_author)


@router.delete(
    "/{username}/db_post/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
    dependencies=[Depends(require_permissions(PURGE.name))],
)
async def hard_delete_post(
    username: str, id: ResourceId, db: DbDep, resources: ResourcesDep
) -> None:
    """Remove a post from the database (`posts.purge`)."""
    await service.hard_delete_post(db, resources, username, id)
