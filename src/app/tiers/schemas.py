from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.params import NoNul, stored_text
from app.platform.rate_limit import MAX_PATH_LENGTH, PATH_PATTERN, validate_path

TierName = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
]
LimitName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    NoNul,
    stored_text(visible=1),
]
LimitPath = Annotated[
    str,
    StringConstraints(max_length=MAX_PATH_LENGTH),
    AfterValidator(validate_path),
    Field(json_schema_extra={"pattern": PATH_PATTERN}),
]
LimitCount = Annotated[int, Field(ge=1, le=1_000_000_000)]
LimitPeriod = Annotated[int, Field(ge=1, le=366 * 86400, description="Seconds")]


class TierCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TierName


class TierUpdate(TierCreate):
    pass


class TierRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime


class RateLimitCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "tasks", "path": "api/v1/tasks/task", "limit": 5, "period": 60}]
        },
    )

    name: LimitName | None = Field(default=None, description="Defaults to the path")
    path: LimitPath
    limit: LimitCount
    period: LimitPeriod


class RateLimitUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Optional, but not nullable: the schema leaves null out (an explicit null is a 422).
    name: LimitName | SkipJsonSchema[None] = None
    path: LimitPath | SkipJsonSchema[None] = None
    limit: LimitCount | SkipJsonSchema[None] = None
    period: LimitPeriod | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls(self) -> RateLimitUpdate:
        for field in self.model_fields_set:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class RateLimitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tier_id: int
    name: str
    path: str
    limit: int
    period: int
    created_at: datetime


class UserTierUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier_id: int = Field(ge=1, le=2**31 - 1)


class UserTierRead(BaseModel):
    username: str
    tier: TierRead | None
