"""The job queue: ARQ on Redis in production, an in-process runner in the embedded default.

Both run the same job functions (`app.jobs.JOBS`) and report the same statuses. Delivery is
at least once: a worker that dies mid-job leaves the job in the queue, and a worker runs it
again once the dead worker's claim expires (the job timeout plus 10 s). Write jobs so that
running one twice does no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from arq.connections import ArqRedis
from arq.jobs import Job
from arq.jobs import JobStatus as ArqStatus
from arq.worker import Retry
from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import after_commit
from app.core.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

QUEUE_NAME = "arq:queue"
OWNER_PREFIX = "job-owner:"
ANONYMOUS = "-"
# How long an enqueued job may wait for a worker before it expires (ARQ's default: one day).
QUEUED_TTL_SECONDS = 86_400
# Errors worth another try: the database or Redis was briefly unreachable.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    RedisError,
    ConnectionError,
)

JobContext = dict[str, Any]
JobFunction = Callable[..., Awaitable[Any]]


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


def retry_delay(job_try: int) -> float:
    """Seconds before try `job_try + 1`: 1, 2, 4, ... capped at 60."""
    return float(min(60, 2 ** max(0, job_try - 1)))


def retrying(function: JobFunction) -> JobFunction:
    """Turn a transient error (database or Redis unreachable) into a retry with backoff;
    any other error fails the job."""

    @functools.wraps(function)
    async def wrapper(ctx: JobContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return await function(ctx, *args, **kwargs)
        except TRANSIENT_ERRORS as exc:
            job_try = int(ctx.get("job_try", 1))
            delay = retry_delay(job_try)
            logger.warning(
                "job %s try %d hit %s; retrying in %.0f s",
                ctx.get("job_id"),
                job_try,
                type(exc).__name__,
                delay,
            )
            raise Retry(defer=delay) from exc

    return wrapper


@contextlib.asynccontextmanager
async def job_session(ctx: JobContext) -> AsyncIterator[AsyncSession]:
    """One transaction for a job: committed when the block ends, rolled back if it raises.

    async def my_job(ctx: JobContext) -> int:
        async with job_session(ctx) as session:
            ...
    """
    sessionmaker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    async with sessionmaker() as session, session.begin():
        yield session


def new_job_id() -> str:
    """An unguessable job id (128 random bits)."""
    return secrets.token_urlsafe(16)


def owner_of(user_id: int | None) -> str:
    return ANONYMOUS if user_id is None else f"user:{user_id}"


def _visible(owner: str | None, viewer: str) -> bool:
    return owner is not None and owner in (ANONYMOUS, viewer)


def _outcome(success: bool, result: Any) -> tuple[Any, str | None]:
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


class ArqQueue:
    """Jobs in Redis, run by `app worker` processes."""

    def __init__(self, url: str, settings: Settings) -> None:
        timeout = settings.REDIS_TIMEOUT_SECONDS
        pool = ConnectionPool.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.redis = ArqRedis(pool, default_queue_name=QUEUE_NAME)
        # The owner record outlives the job: queued, running, then its kept result.
        self.owner_ttl = (
            QUEUED_TTL_SECONDS
            + settings.WORKER_JOB_TIMEOUT_SECONDS
            + settings.JOB_KEEP_RESULT_SECONDS
        )

    async def enqueue(self, function: str, *args: Any, job_id: str, owner: str) -> None:
        try:
            await self.redis.set(OWNER_PREFIX + job_id, owner, ex=self.owner_ttl)
            job = await self.redis.enqueue_job(function, *args, _job_id=job_id)
        except (RedisError, OSError) as exc:
            logger.error("queue unavailable, %s not enqueued: %s", function, type(exc).__name__)
            raise ServiceUnavailable("Job queue unavailable, try again shortly") from exc
        if job is None:  # only on an id collision, which 128 random bits make unheard of
            raise ServiceUnavailable("Job could not be enqueued, try again")

    async def view(self, job_id: str, viewer: str) -> JobView | None:
        job = Job(job_id, self.redis, _queue_name=QUEUE_NAME)
        try:
            raw_owner = await self.redis.get(OWNER_PREFIX + job_id)
            owner = raw_owner.decode() if isinstance(raw_owner, bytes) else raw_owner
            if not _visible(owner, viewer):
                return None
            status = await job.status()
            if status is ArqStatus.not_found:
                return None
            info = await (job.result_info() if status is ArqStatus.complete else job.info())
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Job queue unavailable, try again shortly") from exc
        if info is None:  # finished between the two reads and its result has expired
            return None
        view = JobView(
            id=job_id,
            status=JobStatus(status.value),
            function=info.function,
            enqueued_at=info.enqueue_time,
            tries=info.job_try,
        )
        if status is ArqStatus.complete:
            result, error = _outcome(info.success, info.result)  # type: ignore[attr-defined]
            return dataclasses.replace(
                view,
                started_at=info.start_time,  # type: ignore[attr-defined]
                finished_at=info.finish_time,  # type: ignore[attr-defined]
                success=info.success,  # type: ignore[attr-defined]
                result=result,
                error=error,
            )
        return view

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()


@dataclass(slots=True)
class _LocalJob:
    id: str
    function: str
    args: tuple[Any, ...]
    owner: str
    enqueued_at: datetime
    status: JobStatus = JobStatus.QUEUED
    tries: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    success: bool | None = None
    result: Any = None
    forget_at: float | None = None


class LocalQueue:
    """The embedded runner: jobs run in this process, with the same functions, retries,
    timeouts and statuses as the worker. A job still queued when the process stops is lost,
    which is why production uses `ArqQueue`."""

    def __init__(
        self, functions: dict[str, JobFunction], ctx: JobContext, settings: Settings
    ) -> None:
        self.functions = functions
        self.ctx = ctx
        self.job_timeout = settings.WORKER_JOB_TIMEOUT_SECONDS
        self.max_tries = settings.WORKER_MAX_TRIES
        self.keep_result = settings.JOB_KEEP_RESULT_SECONDS
        self.max_kept = 10_000
        self._slots = asyncio.Semaphore(settings.WORKER_MAX_JOBS)
        self._jobs: dict[str, _LocalJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, function: str, *args: Any, job_id: str, owner: str) -> None:
        if function not in self.functions:
            raise ValueError(f"no job function named {function!r}")
        self._forget_expired()
        if len(self._jobs) >= self.max_kept:
            raise ServiceUnavailable("Too many jobs kept in this process, try again later")
        job = _LocalJob(job_id, function, args, owner, datetime.now(UTC))
        self._jobs[job_id] = job
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: _LocalJob) -> None:
        function = self.functions[job.function]
        while True:
            async with self._slots:
                job.status = JobStatus.IN_PROGRESS
                job.tries += 1
                job.started_at = datetime.now(UTC)
                ctx = {**self.ctx, "job_id": job.id, "job_try": job.tries}
                delay: float | None = None
                try:
                    result = await asyncio.wait_for(function(ctx, *job.args), self.job_timeout)
                except Retry as retry:
                    if job.tries < self.max_tries:
                        delay = (retry.defer_score or 0) / 1000
                    else:
                        self._finish(job, False, retry)
                except Exception as exc:
                    logger.exception("job %s (%s) failed", job.id, job.function)
                    self._finish(job, False, exc)
                else:
                    self._finish(job, True, result)
            if delay is None:
                return
            job.status = JobStatus.DEFERRED
            await asyncio.sleep(delay)
            job.status = JobStatus.QUEUED

    def _finish(self, job: _LocalJob, success: bool, result: Any) -> None:
        job.status = JobStatus.COMPLETE
        job.finished_at = datetime.now(UTC)
        job.success = success
        job.result = result
        job.forget_at = time.monotonic() + self.keep_result

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for job_id in [
            k for k, job in self._jobs.items() if job.forget_at is not None and job.forget_at <= now
        ]:
            del self._jobs[job_id]

    async def view(self, job_id: str, viewer: str) -> JobView | None:
        self._forget_expired()
        job = self._jobs.get(job_id)
        if job is None or not _visible(job.owner, viewer):
            return None
        result, error = (None, None)
        if job.status is JobStatus.COMPLETE:
            result, error = _outcome(bool(job.success), job.result)
        return JobView(
            id=job.id,
            status=job.status,
            function=job.function,
            enqueued_at=job.enqueued_at,
            started_at=job.started_at if job.status is JobStatus.COMPLETE else None,
            finished_at=job.finished_at,
            tries=job.tries,
            success=job.success,
            result=result,
            error=error,
        )

    async def drain(self) -> None:
        """Wait until every job has finished (tests, and an orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def get_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.queue
    return queue


QueueDep = Annotated[JobQueue, Depends(get_queue)]


async def enqueue_after_commit(
    request: Request, queue: JobQueue, function: str, *args: Any, owner: str
) -> str:
    """Send a job once the request's transaction has committed, never if it rolls back;
    returns the job's id at once. A queue that cannot be reached makes the request a 503.

        job_id = await enqueue_after_commit(request, queue, "sample_background_task", "hi",
                                            owner=owner_of(user.id))
    """
    job_id = new_job_id()
    await after_commit(
        request, functools.partial(queue.enqueue, function, *args, job_id=job_id, owner=owner)
    )
    return job_id


def job_functions(functions: Sequence[JobFunction]) -> dict[str, JobFunction]:
    """The registry by name, each function wrapped with `retrying`."""
    return {function.__name__: retrying(function) for function in functions}
