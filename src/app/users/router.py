from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status

from app.core.db import DbDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, error_responses
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
from app.core.state import ResourcesDep
from app.platform.security import HasherDep
from app.users import service
from app.users.dependencies import (
    CurrentUser,
    EmailVerificationDep,
    OptionalCaller,
    ReservedUsernamesDep,
    SessionUser,
    viewer_of,
)
from app.users.permissions import PURGE
from app.users.schemas import UserCreate, UserRead, UserReadPrivate, UserUpdate

router = APIRouter(tags=["users"])

UserView = UserReadPrivate | UserRead


@router.post(
    "/user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserReadPrivate,
    responses=error_responses(Conflict),
)
async def create_user(
    data: UserCreate,
    db: DbDep,
    hasher: HasherDep,
    verification: EmailVerificationDep,
    reserved: ReservedUsernamesDep,
) -> UserReadPrivate:
    """Register a new user; a verification link goes to the address (when email
    verification is on). A reserved username (a word of the API's paths, or `me`, `admin`,
    ...) is a 422."""
    user = await service.register(db, hasher, data, verification=verification, reserved=reserved)
    return UserReadPrivate.model_validate(user)


@router.get("/users", response_model=Page[UserView] | CursorPage[UserView])
async def list_users(
    request: Request,
    db: DbDep,
    caller: OptionalCaller,
    page: PageNumber = 1,
    items_per_page: ItemsPerPage = 10,
    cursor: Cursor = None,
    limit: CursorLimit = None,
) -> dict[str, Any]:
    """List active users, oldest first: offset pages (`page`, `items_per_page`) or cursor
    pages (`limit`, then `cursor` = the previous page's `next_cursor`)."""
    viewer = await viewer_of(caller)
    if wants_cursor(request, cursor, limit):
        return await service.list_users_by_cursor(db, cursor, limit or 10, viewer)
    return await service.list_users(
        db, PageParams(page=page, items_per_page=items_per_page), viewer
    )


@router.get("/user/me/", response_model=UserReadPrivate, responses=error_responses(Unauthorized))
async def get_me(user: CurrentUser) -> UserReadPrivate:
    """The signed-in user's own account."""
    return user


@router.get("/user/{username}", response_model=UserView, responses=error_responses(NotFound))
async def get_user(username: str, db: DbDep, caller: OptionalCaller) -> UserView:
    """A user by username; email and other private fields only for that user or a holder of
    `users.read_private`."""
    return await service.read_user(db, username, await viewer_of(caller))


@router.patch(
    "/user/{username}",
    response_model=UserReadPrivate,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
async def update_user(
    username: str,
    data: UserUpdate,
    db: DbDep,
    resources: ResourcesDep,
    actor: SessionUser,
    verification: EmailVerificationDep,
    reserved: ReservedUsernamesDep,
) -> UserReadPrivate:
    """Change your own name, username, email or profile image. A new email becomes the
    account's once the link sent to it is followed (`pending_email` until then), and the
    current address is told; with email verification off it changes at once. A reserved
    username is a 422, as at registration."""
    user = await service.update_user(db, resources, actor, username, data, verification, reserved)
    return UserReadPrivate.model_validate(user)


@router.delete(
    "/user/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
async def delete_user(
    username: str, db: DbDep, resources: ResourcesDep, actor: SessionUser
) -> None:
    """Delete your own account (soft delete): its tokens and API keys stop working, and its
    sessions end."""
    await service.delete_user(db, resources, actor, username)


@router.delete(
    "/db_user/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
    dependencies=[Depends(require_permissions(PURGE.name))],
)
async def hard_delete_user(username: str, db: DbDep, resources: ResourcesDep) -> None:
    """Remove a user and everything they own from the database (`users.purge`)."""
    await service.hard_delete_user(db, resources, username)
