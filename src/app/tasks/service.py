"""Enqueueing and reading jobs, each visible only to whoever enqueued it."""

from __future__ import annotations

from app.core.db import Db
from app.core.errors import NotFound
from app.platform.queue import JobQueue, enqueue_after_commit, owner_of
from app.tasks.schemas import TaskRead
from app.users.schemas import UserReadPrivate


def _viewer(user: UserReadPrivate | None) -> str:
    return owner_of(user.id if user else None)


def create_sample_task(db: Db, queue: JobQueue, user: UserReadPrivate | None, message: str) -> str:
    """Enqueue the sample job once the request's unit of work commits; its id at once."""
    return enqueue_after_commit(db, queue, "sample_background_task", message, owner=_viewer(user))


async def get_task(queue: JobQueue, user: UserReadPrivate | None, task_id: str) -> TaskRead:
    # Someone else's job is answered like an unknown one: its existence is not revealed.
    view = await queue.view(task_id, _viewer(user))
    if view is None:
        raise NotFound("Task not found")
    return TaskRead.model_validate(view, from_attributes=True)
