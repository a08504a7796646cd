"""The ARQ worker (`app worker`): runs every domain's jobs and cron jobs (`app.jobs`)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, cast

from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from arq.worker import Worker, func

from app.core.config import ConfigError, Settings
from app.core.logging import configure_logging
from app.core.queue.arq_backend import QUEUE_NAME, arq_cron
from app.jobs import CRON_JOBS, FUNCTIONS
from app.resources import open_resources

logger = logging.getLogger("app.worker")

_EXIT_STACK = "exit_stack"


def queue_url(settings: Settings) -> str:
    """The Redis the worker takes its jobs from; ConfigError when there is none."""
    url = settings.queue_redis_url
    if url is None:
        raise ConfigError(
            "the worker needs Redis (set REDIS_URL or REDIS_QUEUE_HOST); without it, "
            "`app serve` runs jobs in-process"
        )
    return url


def create_worker(settings: Settings) -> Worker:
    redis = RedisSettings.from_dsn(queue_url(settings))
    redis.conn_timeout = max(1, int(settings.REDIS_TIMEOUT_SECONDS))

    # ARQ hands every job the same dict: the process's resources go in once, at start-up.
    async def startup(ctx: dict[str, Any]) -> None:
        stack = contextlib.AsyncExitStack()
        ctx["resources"] = await stack.enter_async_context(open_resources(settings))
        ctx[_EXIT_STACK] = stack

    async def shutdown(ctx: dict[str, Any]) -> None:
        stack: contextlib.AsyncExitStack | None = ctx.pop(_EXIT_STACK, None)
        if stack is not None:
            await stack.aclose()

    return Worker(
        functions=[func(cast(WorkerCoroutine, fn), name=name) for name, fn in FUNCTIONS.items()],
        cron_jobs=[arq_cron(job) for job in CRON_JOBS],
        queue_name=QUEUE_NAME,
        redis_settings=redis,
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.WORKER_MAX_JOBS,
        job_timeout=settings.WORKER_JOB_TIMEOUT_SECONDS,
        max_tries=settings.WORKER_MAX_TRIES,
        keep_result=settings.JOB_KEEP_RESULT_SECONDS,
        # On SIGTERM: stop taking jobs, let running ones finish for this long, then cancel
        # them, which hands them back to the queue.
        job_completion_wait=settings.WORKER_SHUTDOWN_GRACE_SECONDS,
        retry_jobs=True,
    )


def run_worker(settings: Settings) -> int:
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    logger.info("worker starting: queue %s", QUEUE_NAME)
    create_worker(settings).run()
    return 0
