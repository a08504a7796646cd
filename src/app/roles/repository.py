from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import permissions
from app.core.query import Query
from app.core.repository import Repository
from app.roles.models import GrantsVersion, Role, UserRole

# The version of the grants, as a column of every credential check's own statement (no
# round trip of its own: core/identity.py `PermissionSource`). 0 before any change.
GRANTS_VERSION = func.coalesce(
    select(GrantsVersion.version).where(GrantsVersion.id == 1).scalar_subquery(), 0
)

_USER_ROLE_PERMISSIONS = Query(
    select(Role.permissions)
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == bindparam("user_id"))
)


# The reads that show roles: one statement each, in one round trip (Db.rows).
_ROLE_COLUMNS = (
    Role.id,
    Role.name,
    Role.description,
    Role.permissions,
    Role.created_at,
    Role.updated_at,
)
_ROLE = Query(select(*_ROLE_COLUMNS).where(Role.name == bindparam("name")))
_ROLE_COUNT = Query(select(func.count().label("total")).select_from(Role))
_ROLE_PAGE = Query(
    select(
        *_ROLE_COLUMNS,
        select(func.count()).select_from(Role).correlate(None).scalar_subquery().label("total"),
    )
    .order_by(Role.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_ROLE_NAMES_OF_USER = Query(
    select(Role.name)
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == bindparam("user_id"))
    .order_by(Role.name)
)


def _shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """A role's row as RoleRead reads it: its permissions a list (asyncpg gives JSON as text)."""
    return dict(row, permissions=permissions.as_names(row["permissions"]))


async def load_permissions(engine: AsyncEngine, user_id: int) -> frozenset[str]:
    """What the user's roles grant, among the permissions declared now (the permission
    source's `load`: credentials are checked before any unit of work, on the engine)."""
    rows = await _USER_ROLE_PERMISSIONS.all(engine, user_id=user_id)
    granted = {name for row in rows for name in permissions.as_names(row["permissions"])}
    return frozenset(granted) & permissions.all_names()


class RoleRepository(Repository[Role]):
    model = Role

    async def bump_grants_version(self) -> None:
        """Call in the transaction of any change of a role or of who holds it: every
        process's cached permissions are then read again on their next use."""
        result: Any = await self.session.execute(
            update(GrantsVersion)
            .where(GrantsVersion.id == 1)
            .values(version=GrantsVersion.version + 1)
        )
        if result.rowcount == 0:
            await self.session.execute(insert(GrantsVersion).values(id=1, version=1))

    async def give(self, user_id: int, role_ids: Sequence[int]) -> None:
        """Give the user these roles (none of which they hold)."""
        if role_ids:
            await self.session.execute(
                insert(UserRole), [{"user_id": user_id, "role_id": r} for r in role_ids]
            )

    async def take(self, user_id: int, role_ids: Sequence[int]) -> None:
        """Take these roles from the user."""
        if role_ids:
            await self.session.execute(
                delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_id.in_(role_ids))
            )

    async def read(self, name: str) -> dict[str, Any] | None:
        """A role by name, as RoleRead reads it."""
        row = await self.db.row(_ROLE, name=name)
        return None if row is None else _shown(row)

    async def page(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Roles by id, as RoleRead reads them, and how many there are."""
        rows = await self.db.rows(_ROLE_PAGE, offset=offset, limit=limit)
        if rows:
            return [_shown(row) for row in rows], int(rows[0]["total"])
        counted = await self.db.row(_ROLE_COUNT)  # past the last page: no row carries the total
        return [], int(counted["total"]) if counted else 0

    async def names_of_user(self, user_id: int) -> list[str]:
        """The names of the user's roles, sorted."""
        rows = await self.db.rows(_ROLE_NAMES_OF_USER, user_id=user_id)
        return [row["name"] for row in rows]

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

    async def of_user(self, user_id: int) -> list[Role]:
        rows = await self.session.scalars(
            select(Role)
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == user_id)
            .order_by(Role.name)
        )
        return list(rows)
