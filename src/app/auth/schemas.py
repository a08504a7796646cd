from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.users.schemas import Password

# What a refresh token in a body can be at most (ours are about 300 characters).
RefreshTokenText = Annotated[str, Field(min_length=1, max_length=4096)]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    # Seconds the access token is valid for
    expires_in: int
    # Only with token_delivery=body (and from a refresh that sent it in the body)
    refresh_token: str | None = None


class RefreshRequest(BaseModel):
    """A refresh token sent in the body, by clients that hold no cookies."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: RefreshTokenText


class Message(BaseModel):
    message: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any length up to the maximum: an old password may predate today's rule.
    current_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password


class SessionRead(BaseModel):
    """One login of the user, and what was last seen of it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    # The login or the last refresh
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool = False
