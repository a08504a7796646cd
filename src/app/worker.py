"""The ARQ worker (`app worker`): runs every domain's jobs and cron jobs (`app.jobs`).

Redis may go away under it. The worker then takes no jobs, removes its heartbeat file, logs
one line, and asks Redis again after 0.5, 1, 2, 4, then every 5 s until it answers; it logs
one more line and takes jobs again (those queued before the outage included, when Redis kept
them). Started before its Redis, it waits the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from signal import Signals
from typing import Any, cast
from urllib.parse import urlsplit

from arq.connections import ArqRedis, log_redis_info
from arq.typing import WorkerCoroutine
from arq.utils import poll
from arq.worker import Worker, func
from redis.asyncio import ConnectionPool
from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.core.config import ConfigError, Settings
from app.core.observe import hooks
from app.domains import collectors, lifespans, worker_wrappers
from app.jobs import CRON_JOBS, FUNCTIONS
from app.platform.logging import configure_logging
from app.platform.queue.arq_backend import QUEUE_NAME, arq_cron
from app.resources import open_resources

logger = logging.getLogger("app.worker")

_EXIT_STACK = "exit_stack"

# The heartbeat file is touched at most this often (docker-compose.yml's healthcheck calls a
# file older than 30 s stale).
HEARTBEAT_EVERY_SECONDS = 5.0

# Redis that does not answer: refused, reset, timed out, or still loading its data.
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
# Redis that answers but refuses the worker: waiting does not cure a wrong password.
REDIS_REFUSED: tuple[type[BaseException], ...] = (
    AuthenticationError,
    AuthorizationError,
    NoPermissionError,
)
# While Redis is down, it is asked again after 0.5 s, then after twice as long each time, up
# to this: the worker resumes at most this long after Redis is back.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5.0
# A command that gets no answer for this long counts as Redis lost (a paused server or a
# network that drops packets would otherwise hold the worker for minutes).
REDIS_COMMAND_TIMEOUT_SECONDS = 5.0


def _problem(exc: BaseException) -> str:
    """The error's class and the first line of its text, short: a log line, not a traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def describe_redis(url: str) -> str:
    """Where the queue is, for log lines: host, port and database, never credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class HeartbeatWorker(Worker):
    """An ARQ worker that survives Redis outages and touches a heartbeat file after each
    successful poll of the queue (throttled).

    ARQ ends its run at the first Redis error of a poll. Here a Redis that does not answer
    makes the worker wait for it instead (`_wait_for_redis`), at start-up and later, and a job
    whose outcome Redis cannot take keeps it until Redis is back; a Redis that refuses the
    worker (credentials, ACL) still ends it. ARQ calls `record_health` once per successful
    poll iteration: a recent heartbeat file therefore means that the event loop runs and Redis
    answers, and the file is removed while Redis is gone.
    """

    def __init__(
        self,
        *args: Any,
        heartbeat_file: Path | None = None,
        redis_location: str = "Redis",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_file = heartbeat_file
        self.redis_location = redis_location
        self._last_beat = float("-inf")
        self._stopping = asyncio.Event()

    async def main(self) -> None:
        """ARQ's `Worker.main` without burst mode, once Redis answers."""
        self.forget_heartbeat()  # a beat left by an earlier process says nothing of this one
        await self._wait_for_redis(None)
        logger.info(
            "Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions)
        )
        with contextlib.suppress(*REDIS_DOWN):  # the first poll notices a Redis lost just now
            await log_redis_info(self.pool, logger.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        async for _ in poll(self.poll_delay_s):
            await self._poll_iteration()

    async def _poll_iteration(self) -> None:
        try:
            if self.allow_pick_jobs and self.job_counter >= self.max_jobs:
                # A worker with every slot taken does not read the queue: ask Redis anyway, or
                # the heartbeat would go on saying that Redis answers.
                await self.pool.ping()
            await super()._poll_iteration()
        except REDIS_REFUSED:
            raise
        except REDIS_DOWN as exc:
            await self._wait_for_redis(exc)

    async def _wait_for_redis(self, lost: BaseException | None) -> None:
        """Return once Redis answers a PING, asking again with backoff meanwhile. `lost`: the
        error that ended a poll; None at start-up. One line when it does not answer, one when
        it answers again; none per attempt."""
        if lost is None:
            try:
                await self.pool.ping()
                return
            except REDIS_REFUSED:
                raise
            except REDIS_DOWN as exc:
                logger.warning(
                    "Redis at %s does not answer (%s): waiting for it before starting; asking "
                    "again every %.1f to %.0f s",
                    self.redis_location,
                    _problem(exc),
                    RECONNECT_FIRST_SECONDS,
                    RECONNECT_MAX_SECONDS,
                )
        else:
            self.forget_heartbeat()
            logger.warning(
                "Redis lost at %s (%s): no jobs are taken until it answers; asking again every "
                "%.1f to %.0f s",
                self.redis_location,
                _problem(lost),
                RECONNECT_FIRST_SECONDS,
                RECONNECT_MAX_SECONDS,
            )
        since = time.monotonic()
        delay = RECONNECT_FIRST_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                await self.pool.ping()
                break
            except REDIS_REFUSED:
                raise
            except REDIS_DOWN:
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        waited = time.monotonic() - since
        if lost is None:
            logger.info("Redis at %s answers after %.1f s", self.redis_location, waited)
        else:
            logger.info(
                "Redis back at %s after %.1f s: taking jobs again", self.redis_location, waited
            )

    async def _until_through(self, attempt: Callable[[], Awaitable[None]]) -> None:
        """Await `attempt` until Redis lets it through, trying again with backoff; give up
        (raise its error) once the worker is told to stop, which then stops at once."""
        delay = RECONNECT_FIRST_SECONDS
        while True:
            try:
                await attempt()
                return
            except REDIS_REFUSED:
                raise
            except REDIS_DOWN:
                if self._stopping.is_set():
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except REDIS_DOWN:
            # ARQ holds a slot for the job it was claiming when Redis failed and gives it back
            # only on the paths that do not raise: without this, each outage that strikes
            # mid-claim would cost a slot for good, until no job could start.
            self.job_counter -= 1
            self.sem.release()
            raise

    async def run_job(self, job_id: str, score: int) -> None:
        # A Redis error that reaches here came before the job ran (its outcome is stored by
        # `finish_job`, which waits for Redis): the job, claimed by this worker, is run once
        # Redis is back.
        try:
            await self._until_through(functools.partial(super().run_job, job_id, score))
        except REDIS_DOWN as exc:
            # Told to stop meanwhile. The job stays in the queue with this worker's claim on
            # it: once the claim expires, a worker runs it (at least once, as after a crash).
            logger.warning(
                "job %s: Redis gone when the worker stopped (%s), its outcome not stored; it "
                "runs again once its claim expires, %.0f s after it started",
                job_id,
                type(exc).__name__,
                self.in_progress_timeout_s,
            )

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        """ARQ's, but an outcome that Redis cannot take now is kept until Redis is back,
        instead of being dropped and the job run again once its claim expires. (Sent twice,
        when the first answer was lost, it is stored the same; a retry's delay would grow.)"""
        await self._until_through(functools.partial(super().finish_job, *args, **kwargs))

    async def _sleep_until_tasks_complete(self) -> None:
        # ARQ's counts the finished tasks its poll loop has not cleared yet, and that loop
        # waits while Redis is gone: a SIGTERM then would wait the whole grace period.
        while running := [task for task in self.tasks.values() if not task.done()]:
            await asyncio.wait(running)

    def handle_sig(self, signum: Signals) -> None:
        self._stopping.set()
        super().handle_sig(signum)

    def handle_sig_wait_for_completion(self, signum: Signals) -> None:
        self._stopping.set()
        super().handle_sig_wait_for_completion(signum)

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

    def forget_heartbeat(self) -> None:
        """Remove the heartbeat file (the compose healthcheck reads no file as unhealthy); the
        next successful poll writes it again at once."""
        self._last_beat = float("-inf")
        if self.heartbeat_file is not None:
            try:
                self.heartbeat_file.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("cannot remove the heartbeat file %s: %s", self.heartbeat_file, exc)

    async def close(self) -> None:
        """ARQ's `Worker.close`, except that a Redis that is down does not keep the process's
        resources from being closed, and that a job the stop cancelled before it ran (while
        it was being claimed) does not end the close with its CancelledError: its claim
        expires and a worker runs it, as after a crash."""
        if self._pool is None:
            return
        try:
            ended = await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            for outcome in ended:
                if isinstance(outcome, Exception):
                    logger.error("a job's task failed while stopping: %s", type(outcome).__name__)
            with contextlib.suppress(*REDIS_DOWN, *REDIS_REFUSED):
                await self.pool.delete(self.health_check_key)
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
        finally:
            await self.pool.aclose(close_connection_pool=True)
            self._pool = None


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
    url = queue_url(settings)
    # Connections are opened on first use: creating the pool needs no Redis.
    pool = ConnectionPool.from_url(
        url,
        socket_connect_timeout=max(1.0, settings.REDIS_TIMEOUT_SECONDS),
        socket_timeout=max(REDIS_COMMAND_TIMEOUT_SECONDS, settings.REDIS_TIMEOUT_SECONDS),
    )

    # ARQ hands every job the same dict: the process's resources go in once, at start-up.
    async def startup(ctx: dict[str, Any]) -> None:
        hooks.install(collectors(settings))
        stack = contextlib.AsyncExitStack()
        ctx["resources"] = resources = await stack.enter_async_context(open_resources(settings))
        # What features run beside the jobs (the metrics' process gauges).
        for lifespan in lifespans():
            await stack.enter_async_context(lifespan(resources))
        ctx["max_tries"] = settings.WORKER_MAX_TRIES
        ctx[_EXIT_STACK] = stack

    async def shutdown(ctx: dict[str, Any]) -> None:
        stack: contextlib.AsyncExitStack | None = ctx.pop(_EXIT_STACK, None)
        if stack is not None:
            await stack.aclose()

    return HeartbeatWorker(
        heartbeat_file=settings.WORKER_HEARTBEAT_FILE,
        redis_location=describe_redis(url),
        functions=[func(cast(WorkerCoroutine, fn), name=name) for name, fn in FUNCTIONS.items()],
        cron_jobs=[arq_cron(job) for job in CRON_JOBS],
        queue_name=QUEUE_NAME,
        redis_pool=ArqRedis(pool, default_queue_name=QUEUE_NAME),
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
    with contextlib.ExitStack() as features:
        # What features run beside the worker (the metrics' endpoint); a ConfigError when
        # they cannot.
        for wrapper in worker_wrappers():
            features.enter_context(wrapper(settings))
        worker = create_worker(settings)
        try:
            worker.run()
        except REDIS_REFUSED as exc:
            where = worker.redis_location
            raise ConfigError(f"Redis at {where} refuses the worker: {_problem(exc)}") from None
        finally:
            # A stopped worker is not healthy, even for the seconds its last beat stays recent.
            worker.forget_heartbeat()
    return 0
