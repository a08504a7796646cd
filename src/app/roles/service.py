"""Rules for roles: who may define them and hand them out.

Only holders of `roles.manage` reach these, and even they grant nothing they do not hold: a
role's permissions, and the roles given to or taken from a user, must be among the actor's
own (superusers hold all). Every change bumps the grants version (roles/repository.py) in its
own transaction, so cached permissions are read again everywhere, and one that changes what
somebody holds publishes `RolePermissionsChanged` or `UserRolesChanged` (roles/events.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import permissions
from app.core.db import integrity_error_as
from app.core.errors import NotFound, Unprocessable
from app.core.events import publish
from app.core.pagination import PageParams
from app.core.permissions import check_declared, check_held
from app.core.state import Resources
from app.roles.events import RolePermissionsChanged, UserRolesChanged
from app.roles.models import Role, UserRole
from app.roles.repository import RoleRepository, bump_grants_version
from app.roles.schemas import RoleCreate, RoleRead, RoleUpdate, UserRolesRead
from app.users import service as users

ROLE_NOT_FOUND = "Role not found"
NAME_TAKEN = "Role name is already taken"


async def get_role(session: AsyncSession, name: str) -> Role:
    role = await RoleRepository(session).by_name(name)
    if role is None:
        raise NotFound(ROLE_NOT_FOUND)
    return role


async def create_role(session: AsyncSession, held: frozenset[str], data: RoleCreate) -> Role:
    check_declared(data.permissions)
    check_held(held, data.permissions)
    role = Role(name=data.name, description=data.description, permissions=data.permissions)
    with integrity_error_as(NAME_TAKEN):
        session.add(role)
        await session.flush()
    await bump_grants_version(session)
    return role


async def list_roles(session: AsyncSession, page: PageParams) -> dict[str, Any]:
    roles, total = await RoleRepository(session).page(page.offset, page.items_per_page)
    return page.respond([RoleRead.model_validate(r) for r in roles], total)


async def update_role(
    session: AsyncSession, resources: Resources, held: frozenset[str], name: str, data: RoleUpdate
) -> Role:
    role = await get_role(session, name)
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
        await session.flush()
    await bump_grants_version(session)
    if changed:
        await publish(session, resources, RolePermissionsChanged(role.id, role.name))
    return role


async def delete_role(
    session: AsyncSession, resources: Resources, held: frozenset[str], name: str
) -> None:
    role = await get_role(session, name)
    check_held(held, role.permissions)
    event = RolePermissionsChanged(role.id, role.name)
    await session.delete(role)
    await session.flush()
    await bump_grants_version(session)
    await publish(session, resources, event)


async def user_roles(session: AsyncSession, username: str) -> UserRolesRead:
    user = await users.get_user(session, username)
    roles = await RoleRepository(session).of_user(user.id)
    return UserRolesRead(username=user.username, roles=[r.name for r in roles])


async def set_user_roles(
    session: AsyncSession,
    resources: Resources,
    held: frozenset[str],
    username: str,
    names: list[str],
) -> UserRolesRead:
    """Give the user exactly these roles. The user's row is locked and the roles' rows held,
    so that concurrent changes of the same user, or of the roles, wait for one another (and
    a role deleted meanwhile is then unknown, not a 500)."""
    user = await users.get_user(session, username, lock=True)
    repo = RoleRepository(session)
    wanted = await repo.by_names(names, share=True)
    missing = sorted(set(names) - {r.name for r in wanted})
    if missing:
        raise Unprocessable(f"Unknown roles: {', '.join(missing)}", ("body", "roles"))
    current = await repo.of_user(user.id)
    added = [r for r in wanted if r.id not in {c.id for c in current}]
    removed = [r for r in current if r.id not in {w.id for w in wanted}]
    check_held(held, (p for r in (*added, *removed) for p in r.permissions))
    if removed:
        await session.execute(
            delete(UserRole).where(
                UserRole.user_id == user.id, UserRole.role_id.in_([r.id for r in removed])
            )
        )
    if added:
        await session.execute(
            insert(UserRole), [{"user_id": user.id, "role_id": r.id} for r in added]
        )
    if added or removed:
        await bump_grants_version(session)
        await publish(session, resources, UserRolesChanged(user.id))
    return UserRolesRead(username=user.username, roles=sorted(r.name for r in wanted))


async def ensure_role(
    session: AsyncSession,
    resources: Resources,
    data: RoleCreate,
    *,
    description: str | None = None,
) -> str:
    """Create the role, or give an existing one these permissions (and `description`, when
    given): the CLI's `app create-role`. Says what it did."""
    role = await RoleRepository(session).by_name(data.name)
    if role is None:
        await create_role(session, permissions.all_names(), data)
        return "created"
    if role.permissions == data.permissions and description in (None, role.description):
        return "exists, unchanged"
    changed = set(role.permissions) != set(data.permissions)
    role.permissions = data.permissions
    if description is not None:
        role.description = data.description
    await session.flush()
    await bump_grants_version(session)
    if changed:
        await publish(session, resources, RolePermissionsChanged(role.id, role.name))
    return "updated"


async def grant(session: AsyncSession, resources: Resources, username: str, role_name: str) -> bool:
    """Give the user the role (the CLI's `app grant`); False when they held it already."""
    user = await users.get_user(session, username, lock=True)
    found = await RoleRepository(session).by_names([role_name], share=True)
    if not found:
        raise NotFound(ROLE_NOT_FOUND)
    role = found[0]
    if role.id in {r.id for r in await RoleRepository(session).of_user(user.id)}:
        return False
    await session.execute(insert(UserRole).values(user_id=user.id, role_id=role.id))
    await bump_grants_version(session)
    await publish(session, resources, UserRolesChanged(user.id))
    return True
