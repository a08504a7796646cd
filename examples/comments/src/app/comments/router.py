from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from app.comments import service
from app.comments.pages import PAGE_KEY
from app.comments.schemas import CommentCreate, CommentRead
from app.core.db import DbDep
from app.core.errors import Forbidden, NotFound, Unauthorized, error_responses
from app.core.pagination import ItemsPerPage, Page, PageNumber, PageParams
from app.core.params import ResourceId
from app.core.state import ResourcesDep
from app.platform.cache import cache
from app.users.dependencies import CurrentCaller, CurrentUser

router = APIRouter(tags=["comments"])


@router.post(
    "/{username}/post/{post_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    responses=error_responses(Unauthorized, NotFound),
)
async def create_comment(
    username: str,
    post_id: ResourceId,
    data: CommentCreate,
    db: DbDep,
    resources: ResourcesDep,
    actor: CurrentUser,
) -> CommentRead:
    """Comment on a post (anybody signed in)."""
    return await service.create_comment(db, resources, actor, username, post_id, data)


@router.get(
    "/{username}/post/{post_id}/comments",
    response_model=Page[CommentRead],
    responses=error_responses(NotFound),
)
@cache(PAGE_KEY, resource_id_name="post_id", expiration=60, serve_hits_early=True)
async def list_comments(
    username: str,
    post_id: ResourceId,
    db: DbDep,
    page: PageNumber = 1,
    items_per_page: ItemsPerPage = 10,
) -> dict[str, Any]:
    """A post's comments, oldest first, one offset page at a time."""
    params = PageParams(page=page, items_per_page=items_per_page)
    comments, total = await service.list_comments(
        db, username, post_id, params.offset, items_per_page
    )
    return params.respond(comments, total)


@router.delete(
    "/{username}/post/{post_id}/comment/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
async def delete_comment(
    username: str,
    post_id: ResourceId,
    comment_id: ResourceId,
    db: DbDep,
    resources: ResourcesDep,
    caller: CurrentCaller,
) -> None:
    """Delete a comment: its writer, or a holder of `comments.delete_any`."""
    await service.delete_comment(db, resources, caller, username, post_id, comment_id)
