"""Rules for roles: who may define them and hand them out.

Only holders of `roles.manage` reach these, and even they grant nothing they do not hold: a
role's permissions, and the roles given to or taken from a user, must be among the actor's
own (superusers hold all). Every change bumps the grants version (roles/repository.py) in its
own transaction, so cached permissions are read again everywhere, and one that changes what
somebody holds publishes `RolePermissionsChanged` or `UserRolesChanged` (roles/events.py).
"""

from __future__ import annotations

from typing import Any

from app.core import permissions
from app.core.db import Db, integrity_error_as
from app.core.errors import NotFound, Unprocessable
from app.core.events import publish
from app.core.pagination import PageParams
from app.core.permissions import check_declared, check_held
from app.core.state import Resources
from app.roles.events import RolePermissionsChanged, UserRolesChanged
from app.roles.models import Role
from app.roles.repository import RoleRepository
from app.roles.schemas import RoleCreate, RoleRead, RoleUpdate, UserRolesRead
from app.users import service as users

ROLE_NOT_FOUND = "Role not found"
NAME_TAKEN = "Role name is already taken"


async def read_role(db: Db, name: str) -> RoleRead:
    row = await RoleRepository(db).read(name)
    if row is None:
        raise NotFound(ROLE_NOT_FOUND)
    return RoleRead.model_validate(row)


async def get_role(db: Db, name: str) -> Role:
    """The role, to change it."""
    role = await RoleRepository(db).by_name(name)
    if role is None:
        raise NotFound(ROLE_NOT_FOUND)
    return role


async def create_role(db: Db, held: frozenset[str], data: RoleCreate) -> Role:
    check_declared(data.permissions)
    check_held(held, data.permissions)
    repo = RoleRepository(db)
    role = Role(name=data.name, description=data.description, permissions=data.permissions)
    with integrity_error_as(NAME_TAKEN):
        await repo.add(role)
    await repo.bump_grants_version()
    return role


async def list_roles(db: Db, page: PageParams) -> dict[str, Any]:
    rows, total = await RoleRepository(db).page(page.offset, page.items_per_page)
    return page.respond([RoleRead.model_validate(row) for row in rows], total)


async def update_role(
    db: Db, resources: Resources, held: frozenset[str], name: str, data: RoleUpdate
) -> Role:
    repo = RoleRepository(db)
    role = await get_role(db, name)
    check_held(held, role.permissions)
    changed = data.permissions is not None and set(data.permissions) != set(role.permissions)
    if data.permissions is not None:
        check_declared(data.permissions)
        check_held(held, data.permissions)
        role.permissions = data.permissions
    if data.description is not None:
        role.description = data.description
    if data.name is not None:
        role.name = data.name
    with integrity_error_as(NAME_TAKEN):
        await repo.flush()
    await repo.bump_grants_version()
    if changed:
        await publish(db, resources, RolePermissionsChanged(role.id, role.name))
    return role


async def delete_role(db: Db, resources: Resources, held: frozenset[str], name: str) -> None:
    repo = RoleRepository(db)
    role = await get_role(db, name)
    check_held(held, role.permissions)
    event = RolePermissionsChanged(role.id, role.name)
    await repo.delete(role)
    await repo.bump_grants_version()
    await publish(db, resources, event)


async def user_roles(db: Db, username: str) -> UserRolesRead:
    user = await users.read_user(db, username, None)
    names = await RoleRepository(db).names_of_user(user.id)
    return UserRolesRead(username=user.username, roles=names)


async def set_user_roles(
    db: Db,
    resources: Resources,
    held: frozenset[str],
    username: str,
    names: list[str],
) -> UserRolesRead:
    """Give the user exactly these roles. The user's row is locked and the roles' rows held,
    so that concurrent changes of the same user, or of the roles, wait for one another (and
    a role deleted meanwhile is then unknown, not a 500)."""
    user = await users.get_user(db, username, lock=True)
    repo = RoleRepository(db)
    wanted = await repo.by_names(names, share=True)
    missing = sorted(set(names) - {r.name for r in wanted})
    if missing:
        raise Unprocessable(f"Unknown roles: {', '.join(missing)}", ("body", "roles"))
    current = await repo.of_user(user.id)
    added = [r for r in wanted if r.id not in {c.id for c in current}]
    removed = [r for r in current if r.id not in {w.id for w in wanted}]
    check_held(held, (p for r in (*added, *removed) for p in r.permissions))
    await repo.take(user.id, [r.id for r in removed])
    await repo.give(user.id, [r.id for r in added])
    if added or removed:
        await repo.bump_grants_version()
        await publish(db, resources, UserRolesChanged(user.id))
    return UserRolesRead(username=user.username, roles=sorted(r.name for r in wanted))


async def ensure_role(
    db: Db,
    resources: Resources,
    data: RoleCreate,
    *,
    description: str | None = None,
) -> str:
    """Create the role, or give an existing one these permissions (and `description`, when
    given): the CLI's `app create-role`. Says what it did."""
    repo = RoleRepository(db)
    role = await repo.by_name(data.name)
    if role is None:
        await create_role(db, permissions.all_names(), data)
        return "created"
    if role.permissions == data.permissions and description in (None, role.description):
        return "exists, unchanged"
    changed = set(role.permissions) != set(data.permissions)
    role.permissions = data.permissions
    if description is not None:
        role.description = data.description
    await repo.flush()
    await repo.bump_grants_version()
    if changed:
        await publish(db, resources, RolePermissionsChanged(role.id, role.name))
    return "updated"


async def grant(db: Db, resources: Resources, username: str, role_name: str) -> bool:
    """Give the user the role (the CLI's `app grant`); False when they held it already."""
    user = await users.get_user(db, username, lock=True)
    repo = RoleRepository(db)
    found = await repo.by_names([role_name], share=True)
    if not found:
        raise NotFound(ROLE_NOT_FOUND)
    role = found[0]
    if role.id in {r.id for r in await repo.of_user(user.id)}:
        return False
    await repo.give(user.id, [role.id])
    await repo.bump_grants_version()
    await publish(db, resources, UserRolesChanged(user.id))
    return True
