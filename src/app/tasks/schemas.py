from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints

from app.core.params import NoNul, stored_text
from app.platform.queue import JobStatus

Message = Annotated[str, StringConstraints(min_length=1, max_length=1000), NoNul, stored_text()]


class TaskCreated(BaseModel):
    id: str


class TaskRead(BaseModel):
    id: str
    status: JobStatus
    function: str | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    tries: int | None = None
    success: bool | None = None
    result: Any = None
    error: str | None = None
