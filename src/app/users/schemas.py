from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.params import SPACE, NoNul, stored_text

# Usernames that registration and renames refuse besides the API's path words (derived from
# the routes at start-up: users/service.ReservedUsernames): names that would pass for the
# service itself or one of its other paths.
RESERVED_USERNAMES = frozenset(
    {"me", "admin", "api", "docs", "redoc", "openapi", "health", "ready", "metrics", "static"}
    | {"system"}
)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

_EDGE_SPACE = re.compile(rf"\A[{SPACE}]|[{SPACE}]\Z")
# The password rule as the schema publishes it: JSON Schema `pattern`s, each must match.
PASSWORD_PATTERNS = (r"\p{L}", r"\p{Nd}", rf"^[^{SPACE}]", rf"[^{SPACE}]$")


def _password_rule(value: str) -> str:
    # Length is counted in characters; Argon2 hashes every byte, so nothing is truncated.
    # A letter is any Unicode letter (\p{L}), a digit any decimal digit (\p{Nd}).
    if not any(ch.isalpha() for ch in value) or not any(ch.isdecimal() for ch in value):
        raise ValueError("password must contain at least one letter and one digit")
    if _EDGE_SPACE.search(value):
        raise ValueError("password must not start or end with whitespace")
    return value


def _lower(value: str) -> str:
    return value.lower()


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=30),
    NoNul,
    stored_text(visible=2),
]
Username = Annotated[
    str,
    StringConstraints(min_length=2, max_length=20, pattern=r"^[a-z0-9]+$"),
    Field(
        description="Lower-case letters and digits. A word of the API's paths (`users`, "
        "`roles`, `tiers`, `login`, ...) and a few other names (`me`, `admin`, `api`, ...) "
        "are reserved: a 422 says so."
    ),
]
Email = Annotated[EmailStr, Field(max_length=320), AfterValidator(_lower)]
Password = Annotated[
    str,
    StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH),
    AfterValidator(_password_rule),
    Field(
        description="At least one letter and one digit; no whitespace at either end",
        json_schema_extra={"allOf": [{"pattern": pattern} for pattern in PASSWORD_PATTERNS]},
    ),
]
ImageUrl = Annotated[HttpUrl, Field(max_length=2048)]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Ada Lovelace",
                    "username": "ada",
                    "email": "ada@example.com",
                    "password": "analytical1",
                }
            ]
        },
    )

    name: Name
    username: Username
    email: Email
    password: Password


class UserUpdate(BaseModel):
    """Fields a user may change on their own account; privileged fields are not accepted."""

    model_config = ConfigDict(extra="forbid")

    # Optional, but not nullable: the schema leaves null out (an explicit null is a 422).
    name: Name | SkipJsonSchema[None] = None
    username: Username | SkipJsonSchema[None] = None
    email: Email | SkipJsonSchema[None] = None
    profile_image_url: ImageUrl | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> UserUpdate:
        for field in ("name", "username", "email"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        data = self.model_dump(exclude_unset=True)
        if data.get("profile_image_url") is not None:
            data["profile_image_url"] = str(data["profile_image_url"])
        return data


class UserAdminUpdate(BaseModel):
    """What an operator sets on any account (the admin panel's form): the owner's own fields,
    and the privileged ones."""

    name: Name
    username: Username
    email: Email
    email_verified: bool
    is_superuser: bool


class UserRead(BaseModel):
    """What anybody may see of a user."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    username: str
    profile_image_url: str | None
    created_at: datetime


class UserReadPrivate(UserRead):
    """What a user sees of their own account, and superusers of any account."""

    email: str
    email_verified: bool
    # A new address waiting for its verification link to be followed
    pending_email: str | None
    is_superuser: bool
    updated_at: datetime | None
