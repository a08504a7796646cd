"""The retry policy: transient errors (the database unavailable, as core/db_errors.py tells
it, or Redis unreachable) are tried again with exponential backoff; any other error fails the
job. A cron job's run is not tried again: its next scheduled run is. The same wrappers report
each run of a job (core/observe.py), in the worker and the embedded runner alike."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from typing import Any

from arq.worker import Retry
from redis.exceptions import RedisError

from app.core.db_errors import database_unavailable
from app.core.observe import hooks
from app.platform.queue.jobs import CronJob, JobContext, JobFunction

logger = logging.getLogger("app.platform.queue")


def transient(exc: BaseException) -> bool:
    """True for an error that a later try may not meet: the database or Redis unavailable."""
    return isinstance(exc, RedisError) or database_unavailable(exc)


def retry_delay(job_try: int) -> float:
    """Seconds before try `job_try + 1`: 1, 2, 4, ... capped at 60."""
    return float(min(60, 2 ** max(0, job_try - 1)))


def last_try(ctx: JobContext) -> bool:
    """True when the runner will not run this job again, whatever it raises."""
    max_tries = ctx.get("max_tries")
    return max_tries is not None and int(ctx.get("job_try", 1)) >= max_tries


def retrying(function: JobFunction) -> JobFunction:
    """Turn a transient error into a retry with backoff, until the last try, where it fails
    the job as any other error does at once. Each run is counted by outcome: success, failure,
    retry, or cancelled (timed out, or handed back by a worker that stops)."""
    name = function.__name__

    @functools.wraps(function)
    async def wrapper(ctx: JobContext, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failure"
        try:
            result = await function(ctx, *args, **kwargs)
            outcome = "success"
            return result
        except Retry:
            outcome = "failure" if last_try(ctx) else "retry"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:
            if not transient(exc):
                raise
            job_try = int(ctx.get("job_try", 1))
            if last_try(ctx):
                # Asking for a retry now would only hold the job back until the runner
                # reports "max retries exceeded": fail it with its real error instead.
                logger.warning(
                    "job %s try %d hit %s; that was its last try: it fails",
                    ctx.get("job_id"),
                    job_try,
                    type(exc).__name__,
                )
                raise
            delay = retry_delay(job_try)
            outcome = "retry"
            logger.warning(
                "job %s try %d hit %s; retrying in %.0f s",
                ctx.get("job_id"),
                job_try,
                type(exc).__name__,
                delay,
            )
            raise Retry(defer=delay) from exc
        finally:
            hooks.job_run(name, outcome, time.perf_counter() - started)

    return wrapper


def cron_run(job: CronJob) -> JobFunction:
    """A cron job as both runners run it: a run is never retried, since the next scheduled
    run does its work (ARQ gives cron jobs one try, and would report a retry asked for as
    "max retries exceeded" a minute later). A run that hits a transient error logs one line
    and ends; any other error fails it. Counted as `retrying` counts jobs."""
    function = job.function
    name = function.__name__

    @functools.wraps(function)
    async def wrapper(ctx: JobContext, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failure"
        try:
            result = await function(ctx, *args, **kwargs)
            outcome = "success"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:
            if not (isinstance(exc, Retry) or transient(exc)):
                raise
            logger.warning(
                "cron job %s hit %s; not retried: it runs again at its next scheduled time",
                job.name,
                type(exc).__name__,
            )
            return None
        finally:
            hooks.job_run(name, outcome, time.perf_counter() - started)

    return wrapper


def job_functions(functions: Sequence[JobFunction]) -> dict[str, JobFunction]:
    """The registry by name, each function wrapped with `retrying`."""
    names = [function.__name__ for function in functions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"job names must be unique; declared twice: {duplicates}")
    return {function.__name__: retrying(function) for function in functions}
