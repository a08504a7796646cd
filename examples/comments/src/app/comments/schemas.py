from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.core.params import NoNul, stored_text

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    NoNul,
    stored_text(visible=1),
]


class CommentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "Nice post!"}]}
    )

    text: Text


class CommentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    author_id: int
    # The commenter's username, read with the comment: a rename changes every page it is on.
    author_username: str
    text: str
    created_at: datetime
