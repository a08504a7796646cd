from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.core.params import NoNul, stored_text
from app.core.permissions import PermissionNames

RoleName = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
]


def _distinct_sorted(names: list[str]) -> list[str]:
    return sorted(set(names))


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
