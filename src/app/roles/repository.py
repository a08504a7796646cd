from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import permissions
from app.core.query import Query
from app.roles.models import GrantsVersion, Role, UserRole

# The version of the grants, as a column of every credential check's own statement (no
# round trip of its own: core/identity.py `PermissionSource`). 0 before any change.
GRANTS_VERSION = func.coalesce(
    select(GrantsVersion.version).where(GrantsVersion.id == 1).scalar_subquery(), 0
)

USER_ROLE_PERMISSIONS = Query(
    select(Role.permissions)
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == bindparam("user_id"))
)


async def load_permissions(engine: AsyncEngine, user_id: int) -> frozenset[str]:
    """What the user's roles grant, among the permissions declared now."""
    rows = await USER_ROLE_PERMISSIONS.all(engine, user_id=user_id)
    granted = {name for row in rows for name in permissions.as_names(row["permissions"])}
    return frozenset(granted) & permissions.all_names()


async def bump_grants_version(session: AsyncSession) -> None:
    """Call in the transaction of any change of a role or of who holds it: every process's
    cached permissions are then read again on their next use."""
    result: Any = await session.execute(
        update(GrantsVersion).where(GrantsVersion.id == 1).values(version=GrantsVersion.version + 1)
    )
    if result.rowcount == 0:
        await session.execute(insert(GrantsVersion).values(id=1, version=1))


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_name(self, name: str) -> Role | None:
        found: Role | None = await self.session.scalar(select(Role).where(Role.name == name))
        return found

    async def by_names(self, names: Iterable[str], *, share: bool = False) -> list[Role]:
        """`share`: the rows cannot be deleted or changed until the transaction ends."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        query = select(Role).where(Role.name.in_(wanted))
        if share:
            query = query.with_for_update(read=True)
        return list(await self.session.scalars(query))

    async def page(self, offset: int, limit: int) -> tuple[list[Role], int]:
        total = await self.session.scalar(select(func.count()).select_from(Role)) or 0
        rows = await self.session.scalars(
            select(Role).order_by(Role.id).offset(offset).limit(limit)
        )
        return list(rows), total

    async def of_user(self, user_id: int) -> list[Role]:
        rows = await self.session.scalars(
            select(Role)
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == user_id)
            .order_by(Role.name)
        )
        return list(rows)
