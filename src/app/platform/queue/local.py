"""The embedded runner: jobs and cron jobs run in the app's own process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from arq.worker import Retry

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.platform.queue.jobs import (
    CRON_OWNER,
    CronJob,
    JobContext,
    JobFunction,
    JobStatus,
    JobView,
    new_job_id,
    outcome,
    visible,
)
from app.platform.queue.retry import cron_run

if TYPE_CHECKING:
    from app.core.state import Resources

logger = logging.getLogger("app.platform.queue")


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


def _matches(value: int, wanted: int | set[int] | None) -> bool:
    if wanted is None:
        return True
    return value in wanted if isinstance(wanted, set) else value == wanted


def next_run(job: CronJob, after: datetime) -> datetime:
    """The first whole minute after `after` (UTC) that `job`'s hour and minute match."""
    moment = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(24 * 60):
        if _matches(moment.hour, job.hour) and _matches(moment.minute, job.minute):
            return moment
        moment += timedelta(minutes=1)
    raise ValueError(f"cron job {job.name!r} never runs: hour={job.hour} minute={job.minute}")


class LocalQueue:
    """Jobs run in this process, with the same functions, retries, timeouts and statuses as
    the worker, and the same cron jobs on the same schedule. A job still queued when the
    process stops is lost, which is why production uses `ArqQueue`."""

    def __init__(
        self,
        functions: dict[str, JobFunction],
        settings: Settings,
        cron_jobs: Sequence[CronJob] = (),
    ) -> None:
        self.functions = dict(functions)
        self.cron_jobs = tuple(cron_jobs)
        for job in self.cron_jobs:
            self.functions.setdefault(job.name, cron_run(job))
        self.job_timeout = settings.WORKER_JOB_TIMEOUT_SECONDS
        self.max_tries = settings.WORKER_MAX_TRIES
        self.keep_result = settings.JOB_KEEP_RESULT_SECONDS
        self.max_kept = 10_000
        self._resources: Resources | None = None
        self._slots = asyncio.Semaphore(settings.WORKER_MAX_JOBS)
        self._jobs: dict[str, _LocalJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._cron_tasks: list[asyncio.Task[None]] = []

    def start(self, resources: Resources, *, run_cron: bool) -> None:
        """Give jobs the process's resources; with `run_cron`, start the cron schedule."""
        self._resources = resources
        if run_cron:
            self._cron_tasks = [asyncio.create_task(self._schedule(job)) for job in self.cron_jobs]

    async def _schedule(self, job: CronJob) -> None:
        while True:
            now = datetime.now(UTC)
            await asyncio.sleep((next_run(job, now) - now).total_seconds())
            self._submit(new_job_id(), job.name, (), CRON_OWNER)

    async def enqueue(self, function: str, *args: Any, job_id: str, owner: str) -> None:
        if function not in self.functions:
            raise ValueError(f"no job function named {function!r}")
        self._forget_expired()
        if len(self._jobs) >= self.max_kept:
            raise ServiceUnavailable("Too many jobs kept in this process, try again later")
        self._submit(job_id, function, args, owner)

    def _submit(self, job_id: str, function: str, args: tuple[Any, ...], owner: str) -> None:
        job = _LocalJob(job_id, function, args, owner, datetime.now(UTC))
        self._jobs[job_id] = job
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: _LocalJob) -> None:
        if self._resources is None:
            raise RuntimeError("LocalQueue.start() was not called")
        function = self.functions[job.function]
        while True:
            async with self._slots:
                job.status = JobStatus.IN_PROGRESS
                job.tries += 1
                job.started_at = datetime.now(UTC)
                ctx: JobContext = {
                    "resources": self._resources,
                    "job_id": job.id,
                    "job_try": job.tries,
                    "max_tries": self.max_tries,
                }
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
        if job is None or not visible(job.owner, viewer):
            return None
        result, error = (None, None)
        if job.status is JobStatus.COMPLETE:
            result, error = outcome(bool(job.success), job.result)
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
        for task in [*self._cron_tasks, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._cron_tasks, *self._tasks, return_exceptions=True)
