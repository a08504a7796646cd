"""The retry policy: transient errors (the database or Redis briefly unreachable) are tried
again with exponential backoff; any other error fails the job."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from arq.worker import Retry
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.core.queue.jobs import JobContext, JobFunction

logger = logging.getLogger("app.core.queue")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    RedisError,
    ConnectionError,
)


def retry_delay(job_try: int) -> float:
    """Seconds before try `job_try + 1`: 1, 2, 4, ... capped at 60."""
    return float(min(60, 2 ** max(0, job_try - 1)))


def retrying(function: JobFunction) -> JobFunction:
    """Turn a transient error into a retry with backoff; any other error fails the job."""

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


def job_functions(functions: Sequence[JobFunction]) -> dict[str, JobFunction]:
    """The registry by name, each function wrapped with `retrying`."""
    names = [function.__name__ for function in functions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"job names must be unique; declared twice: {duplicates}")
    return {function.__name__: retrying(function) for function in functions}
