from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from app.core.params import NoNul, stored_text
from app.core.permissions import PermissionNames

KeyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    NoNul,
    stored_text(visible=1),
]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName
    # When the key stops working; none: until revoked.
    expires_at: AwareDatetime | None = None
    # What the key may do beyond acting as you on your own resources; each one yours.
    permissions: PermissionNames = []


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    # The key's lookup part (the key is `ak_<prefix>_<secret>`), to tell keys apart.
    prefix: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    # The whole key: shown this once, never stored.
    key: str
