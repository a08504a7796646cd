"""Permissions: named `resource.action`, declared by the domain that checks them.

A domain lists its permissions in its `Domain(permissions=...)`; `app.domains` registers them
all at import (`register`), and `require_permissions(...)` (core/identity.py) refuses at
start-up a name nobody declared. Superusers hold all; who else holds which is the permission
source's to say (core/identity.py: roles, when installed).

`PermissionCache` keeps each user's permissions in the process, filed under the version of the
grants (a counter in the database that the permission source owns, read by each credential
check's own statement and bumped in the same transaction as any change of a grant): a request
whose version matches the cached one needs no query of its own, and a change applies at once
in every process, since each sees the new version on its next request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from app.core.errors import Forbidden, Unprocessable

_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Permission:
    """`Permission("posts.delete_any", "Delete any user's post")`."""

    name: str
    description: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or len(self.name) > 64:
            raise ValueError(f"permission {self.name!r} is not named resource.action")


_REGISTRY: dict[str, Permission] = {}
# Names passed to require_permissions(), checked against the registry at start-up.
_REQUIRED: set[str] = set()


def register(permissions: Iterable[Permission]) -> None:
    """Register every domain's permissions (app.domains does, once); a name declared twice
    with different descriptions is an error."""
    for permission in permissions:
        known = _REGISTRY.get(permission.name)
        if known is not None and known != permission:
            raise ValueError(f"permission {permission.name!r} is declared twice")
        _REGISTRY[permission.name] = permission


def registered() -> tuple[Permission, ...]:
    """Every registered permission, by name."""
    return tuple(sorted(_REGISTRY.values(), key=lambda p: p.name))


def all_names() -> frozenset[str]:
    return frozenset(_REGISTRY)


def unknown(names: Iterable[str]) -> list[str]:
    """The names among `names` that no domain declares, sorted."""
    return sorted(set(names) - _REGISTRY.keys())


def check_declared(names: Iterable[str], loc: tuple[str, ...] = ("body", "permissions")) -> None:
    """A 422 at `loc` naming the permissions among `names` that no domain declares."""
    missing = unknown(names)
    if missing:
        raise Unprocessable(f"Unknown permissions: {', '.join(missing)}", loc)


def check_held(held: frozenset[str], names: Iterable[str]) -> None:
    """A 403 naming the permissions among `names` outside `held`: nobody hands out (to a role,
    to a key) a permission they do not hold."""
    lacking = sorted(set(names) - held)
    if lacking:
        raise Forbidden(f"You do not hold these permissions: {', '.join(lacking)}")


def as_names(value: Any) -> list[str]:
    """A JSON list of names as the driver returns it (asyncpg's raw rows give the text)."""
    if isinstance(value, str):
        value = json.loads(value)
    return [name for name in value or () if isinstance(name, str)]


def _declared_names(schema: dict[str, Any]) -> None:
    # The schema is built when first asked for, once every domain has declared its own.
    schema["enum"] = sorted(all_names())


# A permission's name in a request body; the schema lists the declared ones.
PermissionName = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"),
    Field(json_schema_extra=_declared_names),
]


def _distinct_sorted(names: list[str]) -> list[str]:
    return sorted(set(names))


PermissionNames = Annotated[
    list[PermissionName], Field(max_length=200), AfterValidator(_distinct_sorted)
]


def note_required(names: Iterable[str]) -> None:
    _REQUIRED.update(names)


def check_required() -> None:
    """Refuse to start when a route requires a permission no domain declares."""
    missing = unknown(_REQUIRED)
    if missing:
        raise RuntimeError(f"permissions required by routes but not declared: {missing}")


Loader = Callable[[int], Awaitable[frozenset[str]]]


class PermissionCache:
    """Users' permissions under one version of the grants; a newer version empties it."""

    def __init__(self, max_users: int = 10_000) -> None:
        self.version = -1
        self.max_users = max_users
        self._users: dict[int, frozenset[str]] = {}

    async def get(self, user_id: int, version: int, load: Loader) -> frozenset[str]:
        if version != self.version:
            if version < self.version:
                # A reader that saw an older version (a slower request): answer it from the
                # database, and keep the cache at the newer version.
                return await load(user_id)
            self._users.clear()
            self.version = version
        found = self._users.get(user_id)
        if found is None:
            found = await load(user_id)
            if self.version == version:
                if len(self._users) >= self.max_users:
                    self._users.clear()
                self._users[user_id] = found
        return found
