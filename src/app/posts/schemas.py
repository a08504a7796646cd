from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.core.params import NoNul, stored_text

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=30),
    NoNul,
    stored_text(visible=2),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=63206), NoNul, stored_text()]
MediaUrl = Annotated[HttpUrl, Field(max_length=2048)]


class PostCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Hello", "text": "My first post."}]},
    )

    title: Title
    text: Text
    media_url: MediaUrl | None = None


class PostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Optional, but not nullable: the schema leaves null out (an explicit null is a 422).
    title: Title | SkipJsonSchema[None] = None
    text: Text | SkipJsonSchema[None] = None
    media_url: MediaUrl | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> PostUpdate:
        for field in ("title", "text"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        data = self.model_dump(exclude_unset=True)
        if data.get("media_url") is not None:
            data["media_url"] = str(data["media_url"])
        return data


class PostRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    text: str
    media_url: str | None
    created_by_user_id: int
    created_at: datetime
    updated_at: datetime | None
