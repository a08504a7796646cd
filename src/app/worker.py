"""The ARQ worker (`app worker`): runs the jobs of `app.jobs`, and the daily cron jobs."""

from __future__ import annotations

import logging
from typing import cast

from arq.connections import RedisSettings
from arq.cron import cron
from arq.typing import WorkerCoroutine
from arq.worker import Worker, func

from app.core.config import ConfigError, Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.logging import configure_logging
from app.core.queue import QUEUE_NAME, JobContext, retrying
from app.jobs import FUNCTIONS
from app.posts.tasks import purge_deleted_posts

logger = logging.getLogger("app.worker")


async def startup(ctx: JobContext) -> None:
    engine = create_engine(ctx["settings"])
    ctx["engine"] = engine
    ctx["sessionmaker"] = create_sessionmaker(engine)


async def shutdown(ctx: JobContext) -> None:
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()


def create_worker(settings: Settings) -> Worker:
    url = settings.queue_redis_url
    if url is None:
        raise ConfigError(
            "the worker needs Redis (set REDIS_URL or REDIS_QUEUE_HOST); without it, "
            "`app serve` runs jobs in-process"
        )
    redis = RedisSettings.from_dsn(url)
    redis.conn_timeout = max(1, int(settings.REDIS_TIMEOUT_SECONDS))
    return Worker(
        functions=[func(cast(WorkerCoroutine, fn), name=name) for name, fn in FUNCTIONS.items()],
        cron_jobs=[
            # unique: with several workers, each day's run is enqueued and run once.
            cron(
                cast(WorkerCoroutine, retrying(purge_deleted_posts)),
                name="purge_deleted_posts_daily",
                hour=3,
                minute=0,
            )
        ],
        queue_name=QUEUE_NAME,
        redis_settings=redis,
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"settings": settings},
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
