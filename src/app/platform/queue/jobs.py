"""Jobs as the domains see them: the job context, cron declarations, statuses, the queue
protocol both backends follow, and enqueueing after a commit.

Delivery is at least once: a worker that dies mid-job leaves the job in the queue, and a
worker runs it again once the dead worker's claim expires (the job timeout plus 10 s). Write
jobs so that running one twice does no harm.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypedDict

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder

from app.core.state import get_resources

if TYPE_CHECKING:
    from app.core.db import Db
    from app.core.state import Resources

ANONYMOUS = "-"
# Owner of the jobs that cron starts: no caller sees them.
CRON_OWNER = "cron"


class JobContext(TypedDict, total=False):
    """What a job function receives first: the process's resources and, from the runner,
    the job's id, its try number (1 on the first run) and the tries it may have."""

    resources: Resources
    job_id: str
    job_try: int
    max_tries: int


JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class CronJob:
    """A job run on a schedule, by the worker and by the embedded runner alike; `hour` and
    `minute` as in cron (None: every). With several workers each run happens once.

        CronJob(purge_deleted_posts, name="purge_deleted_posts_daily", hour=3, minute=0)
    """

    function: JobFunction
    name: str
    hour: int | set[int] | None = None
    minute: int | set[int] | None = None


class JobStatus(StrEnum):
    DEFERRED = "deferred"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class JobView:
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


class JobQueue(Protocol):
    async def enqueue(self, function: str, *args: Any, job_id: str, owner: str) -> None:
        """Send the job; ServiceUnavailable when the queue cannot be reached."""
        ...

    async def view(self, job_id: str, viewer: str) -> JobView | None:
        """The job as `viewer` may see it; None when it is unknown or someone else's."""
        ...

    async def ping(self) -> bool:
        """True when the queue answers."""
        ...

    async def close(self) -> None: ...


def new_job_id() -> str:
    """An unguessable job id (128 random bits)."""
    return secrets.token_urlsafe(16)


def owner_of(user_id: int | None) -> str:
    return ANONYMOUS if user_id is None else f"user:{user_id}"


def visible(owner: str | None, viewer: str) -> bool:
    return owner is not None and owner in (ANONYMOUS, viewer)


def outcome(success: bool, result: Any) -> tuple[Any, str | None]:
    """What a finished job shows: its result as JSON, or the name of its error (never the
    error's text, which may hold internals)."""
    if not success:
        if isinstance(result, asyncio.TimeoutError | TimeoutError):
            return None, "timed out"
        return None, type(result).__name__ if isinstance(result, BaseException) else "failed"
    try:
        return jsonable_encoder(result), None
    except (TypeError, ValueError):
        return repr(result), None


def enqueue_after_commit(db: Db, queue: JobQueue, function: str, *args: Any, owner: str) -> str:
    """Send a job once the unit of work `db` has committed, never if it rolls back; returns
    the job's id at once. A queue that cannot be reached makes the request a 503.

        job_id = enqueue_after_commit(db, queue, "sample_background_task", "hi",
                                      owner=owner_of(user.id))

    A job opens its own unit of work, as a request has one:

        async def my_job(ctx: JobContext) -> int:
            async with unit_of_work(ctx["resources"]) as db:   # app.core.db
                ...
    """
    job_id = new_job_id()
    db.after_commit(functools.partial(queue.enqueue, function, *args, job_id=job_id, owner=owner))
    return job_id


async def get_queue(request: Request) -> JobQueue:
    return get_resources(request).queue


QueueDep = Annotated[JobQueue, Depends(get_queue)]
