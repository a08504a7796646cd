from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.users.schemas import Email, Password

# What a token in a link can be at most (ours are 43 characters).
LinkTokenText = Annotated[str, Field(min_length=1, max_length=128)]


class EmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkTokenText


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkTokenText
    new_password: Password
