"""The production backend: jobs in Redis, run by `app worker` processes (ARQ)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

from arq.connections import ArqRedis
from arq.cron import CronJob as ArqCronJob
from arq.cron import cron
from arq.jobs import Job, JobDef
from arq.jobs import JobStatus as ArqStatus
from arq.typing import WorkerCoroutine
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.platform.queue.jobs import CronJob, JobStatus, JobView, outcome, visible
from app.platform.queue.retry import cron_run

logger = logging.getLogger("app.platform.queue")

QUEUE_NAME = "arq:queue"
OWNER_PREFIX = "job-owner:"
# How long an enqueued job may wait for a worker before it expires (ARQ's default: one day).
QUEUED_TTL_SECONDS = 86_400


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
            if not visible(owner, viewer):
                return None
            # A job that finishes between reading its status and reading its record (the
            # record goes as the result arrives) is read again, as finished.
            info: JobDef | None = None
            for _ in range(3):
                status = await job.status()
                if status is ArqStatus.not_found:
                    return None
                if status is ArqStatus.complete:
                    info = await job.result_info()
                else:
                    info = await job.info()
                if info is not None:
                    break
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Job queue unavailable, try again shortly") from exc
        if info is None:  # its result expired while it was being read
            return None
        view = JobView(
            id=job_id,
            status=JobStatus(status.value),
            function=info.function,
            enqueued_at=info.enqueue_time,
            tries=info.job_try,
        )
        if status is ArqStatus.complete:
            result, error = outcome(info.success, info.result)  # type: ignore[attr-defined]
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


def arq_cron(job: CronJob) -> ArqCronJob:
    """The ARQ form of a cron declaration; `unique` (ARQ's default) makes each run happen once
    however many workers there are. One try per run (ARQ's default, and `cron_run` never asks
    for another)."""
    return cron(
        cast(WorkerCoroutine, cron_run(job)),
        name=job.name,
        hour=job.hour,
        minute=job.minute,
        second=0,
        unique=True,
        max_tries=1,
    )
