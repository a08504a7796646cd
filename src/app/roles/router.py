from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from app.core import permissions
from app.core.db import DbDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, error_responses
from app.core.identity import require_permissions
from app.core.pagination import Page, PageDep
from app.core.state import ResourcesDep
from app.roles import service
from app.roles.permissions import MANAGE
from app.roles.schemas import (
    PermissionList,
    PermissionRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    UserRolesRead,
    UserRolesUpdate,
)
from app.users.dependencies import Caller, CurrentCaller, CurrentUser

router = APIRouter(tags=["roles"])

ERRORS = error_responses(Unauthorized, Forbidden, NotFound, Conflict)
RoleManager = Annotated[Caller, Depends(require_permissions(MANAGE.name))]


@router.get(
    "/permissions",
    response_model=list[PermissionRead],
    responses=error_responses(Unauthorized),
)
async def list_permissions(_: CurrentUser) -> list[PermissionRead]:
    """Every permission the app declares, by name (`resource.action`)."""
    return [
        PermissionRead(name=p.name, description=p.description) for p in permissions.registered()
    ]


@router.get(
    "/user/me/permissions", response_model=PermissionList, responses=error_responses(Unauthorized)
)
async def my_permissions(caller: CurrentCaller) -> PermissionList:
    """The permissions of this request's caller (an API key's: those of the key that its
    owner still holds)."""
    return PermissionList(permissions=sorted(await caller.permissions()))


@router.post(
    "/roles", status_code=status.HTTP_201_CREATED, response_model=RoleRead, responses=ERRORS
)
async def create_role(data: RoleCreate, db: DbDep, caller: RoleManager) -> RoleRead:
    """Create a role: a named set of permissions, each of which you hold (`roles.manage`)."""
    role = await service.create_role(db, await caller.permissions(), data)
    return RoleRead.model_validate(role)


@router.get("/roles", response_model=Page[RoleRead], responses=ERRORS)
async def list_roles(db: DbDep, page: PageDep, _: RoleManager) -> dict[str, Any]:
    """List roles, one offset page at a time (`roles.manage`)."""
    return await service.list_roles(db, page)


@router.get("/roles/{name}", response_model=RoleRead, responses=ERRORS)
async def get_role(name: str, db: DbDep, _: RoleManager) -> RoleRead:
    """A role by name (`roles.manage`)."""
    return await service.read_role(db, name)


@router.patch("/roles/{name}", response_model=RoleRead, responses=ERRORS)
async def update_role(
    name: str,
    data: RoleUpdate,
    db: DbDep,
    resources: ResourcesDep,
    caller: RoleManager,
) -> RoleRead:
    """Rename a role or change its description or permissions (`roles.manage`, and every
    permission it grants before and after); its holders' permissions change at once."""
    role = await service.update_role(db, resources, await caller.permissions(), name, data)
    return RoleRead.model_validate(role)


@router.delete("/roles/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_role(name: str, db: DbDep, resources: ResourcesDep, caller: RoleManager) -> None:
    """Delete a role; its holders lose what it granted at once (`roles.manage`)."""
    await service.delete_role(db, resources, await caller.permissions(), name)


@router.get("/user/{username}/roles", response_model=UserRolesRead, responses=ERRORS)
async def get_user_roles(username: str, db: DbDep, _: RoleManager) -> UserRolesRead:
    """A user's roles (`roles.manage`)."""
    return await service.user_roles(db, username)


@router.put("/user/{username}/roles", response_model=UserRolesRead, responses=ERRORS)
async def set_user_roles(
    username: str,
    data: UserRolesUpdate,
    db: DbDep,
    resources: ResourcesDep,
    caller: RoleManager,
) -> UserRolesRead:
    """Give a user exactly these roles (`roles.manage`; you must hold every permission of
    the roles given or taken away)."""
    held = await caller.permissions()
    return await service.set_user_roles(db, resources, held, username, data.roles)
