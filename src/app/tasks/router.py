from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from app.auth.limits import RATE_LIMITED
from app.core.db import DbDep
from app.core.errors import NotFound, ServiceUnavailable, Unauthorized, error_responses
from app.platform.queue import QueueDep
from app.tasks import service
from app.tasks.schemas import Message, TaskCreated, TaskRead
from app.users.dependencies import OptionalUser

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "/task",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskCreated,
    dependencies=[RATE_LIMITED],
    responses=error_responses(Unauthorized, ServiceUnavailable),
)
async def create_task(
    message: Annotated[Message, Query()],
    db: DbDep,
    queue: QueueDep,
    user: OptionalUser,
) -> TaskCreated:
    """Enqueue `sample_background_task` with `message`; returns the job's id."""
    return TaskCreated(id=service.create_sample_task(db, queue, user, message))


@router.get(
    "/task/{task_id}",
    response_model=TaskRead,
    responses=error_responses(Unauthorized, NotFound, ServiceUnavailable),
)
async def get_task(task_id: TaskId, queue: QueueDep, user: OptionalUser) -> TaskRead:
    """A job's status and, once it is complete, its result (only for whoever enqueued it)."""
    return await service.get_task(queue, user, task_id)
