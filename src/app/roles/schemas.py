from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.core import permissions
from app.core.params import NoNul, stored_text

RoleName = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
]


def _declared_names(schema: dict[str, Any]) -> None:
    # The schema is built when first asked for, once every domain has declared its own.
    schema["enum"] = sorted(permissions.all_names())


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
RoleNames = Annotated[list[RoleName], Field(max_length=50), AfterValidator(_distinct_sorted)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=255), NoNul, stored_text()
]


class PermissionRead(BaseModel):
    name: str
    description: str


class PermissionList(BaseModel):
    permissions: list[str]


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RoleName
    description: Description = ""
    permissions: PermissionNames = []


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RoleName | None = None
    description: Description | None = None
    permissions: PermissionNames | None = None


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    permissions: list[str]
    created_at: datetime
    updated_at: datetime | None


class UserRolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: RoleNames


class UserRolesRead(BaseModel):
    username: str
    roles: list[str]
