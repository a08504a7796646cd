"""The ARQ worker (`app worker`): runs every domain's jobs and cron jobs (`app.jobs`)."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, cast

from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from arq.worker import Worker, func

from app.core.config import ConfigError, Settings
from app.core.logging import configure_logging
from app.core.metrics import process_gauges, serve_worker_metrics
from app.core.queue.arq_backend import QUEUE_NAME, arq_cron
from app.jobs import CRON_JOBS, FUNCTIONS
from app.resources import open_resources

logger = logging.getLogger("app.worker")

_EXIT_STACK = "exit_stack"

# The heartbeat file is touched at most this often (docker-compose.yml's healthcheck calls a
# file older than 30 s stale).
HEARTBEAT_EVERY_SECONDS = 5.0


class HeartbeatWorker(Worker):
    """An ARQ worker that touches a file after each successful poll of the queue (throttled).

    ARQ calls `record_health` once per poll iteration, after reading the queue from Redis: a
    recent file therefore means that the event loop runs and Redis answers.
    """

    def __init__(self, *args: Any, heartbeat_file: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_file = heartbeat_file
        self._last_beat = float("-inf")

    async def record_health(self) -> None:
        await super().record_health()
        if self.heartbeat_file is None:
            return
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_EVERY_SECONDS:
            self._last_beat = now
            try:
                self.heartbeat_file.touch()  # a few microseconds: no thread needed
            except OSError as exc:
                logger.warning("cannot touch the heartbeat file %s: %s", self.heartbeat_file, exc)


def queue_url(settings: Settings) -> str:
    """The Redis the worker takes its jobs from; ConfigError when there is none."""
    url = settings.queue_redis_url
    if url is None:
        raise ConfigError(
            "the worker needs Redis (set REDIS_URL or REDIS_QUEUE_HOST); without it, "
            "`app serve` runs jobs in-process"
        )
    return url


def create_worker(settings: Settings) -> HeartbeatWorker:
    redis = RedisSettings.from_dsn(queue_url(settings))
    redis.conn_timeout = max(1, int(settings.REDIS_TIMEOUT_SECONDS))

    # ARQ hands every job the same dict: the process's resources go in once, at start-up.
    async def startup(ctx: dict[str, Any]) -> None:
        stack = contextlib.AsyncExitStack()
        ctx["resources"] = resources = await stack.enter_async_context(open_resources(settings))
        await stack.enter_async_context(process_gauges(resources.engine))
        ctx["max_tries"] = settings.WORKER_MAX_TRIES
        ctx[_EXIT_STACK] = stack

    async def shutdown(ctx: dict[str, Any]) -> None:
        stack: contextlib.AsyncExitStack | None = ctx.pop(_EXIT_STACK, None)
        if stack is not None:
            await stack.aclose()

    return HeartbeatWorker(
        heartbeat_file=settings.WORKER_HEARTBEAT_FILE,
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
    worker = create_worker(settings)
    try:
        metrics = serve_worker_metrics(settings)
    except OSError as exc:
        where = f"{settings.WORKER_METRICS_HOST}:{settings.WORKER_METRICS_PORT}"
        raise ConfigError(f"cannot serve the worker's metrics on {where}: {exc}") from None
    try:
        worker.run()
    finally:
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        # A stopped worker is not healthy, even for the seconds its last beat stays recent.
        if worker.heartbeat_file is not None:
            worker.heartbeat_file.unlink(missing_ok=True)
    return 0
