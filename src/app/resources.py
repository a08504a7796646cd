"""Opening and closing the resources a process runs on, the same way for the app's lifespan,
the worker and the CLI. Importing this module imports every domain (`app.domains`), so the
ORM's metadata is whole in every process that opens the database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.events import Events
from app.core.extensions import Extensions
from app.core.identity import Identity
from app.core.permissions import PermissionCache
from app.core.state import Resources
from app.domains import (
    authenticators,
    caller_columns,
    event_handlers,
    extensions,
    permission_source,
)
from app.jobs import CRON_JOBS, FUNCTIONS
from app.platform.cache import create_cache
from app.platform.queue.arq_backend import ArqQueue
from app.platform.queue.jobs import JobQueue
from app.platform.queue.local import LocalQueue
from app.platform.rate_limit import RateLimiter
from app.platform.security import PasswordHasher, TokenCodec

logger = logging.getLogger("app")


def create_queue(settings: Settings) -> JobQueue:
    url = settings.queue_redis_url
    if url is None:
        return LocalQueue(FUNCTIONS, settings, CRON_JOBS)
    return ArqQueue(url, settings)


@contextlib.asynccontextmanager
async def open_resources(
    settings: Settings, *, run_cron: bool = False, path_words: frozenset[str] = frozenset()
) -> AsyncIterator[Resources]:
    """Every resource of one process, closed again when the block ends. `run_cron` starts the
    embedded runner's cron schedule (the app server's lifespan asks for it; with Redis, the
    worker runs cron instead); `path_words` are the app's (the lifespan computes them from its
    routes).

        async with open_resources(settings) as resources:
            async with unit_of_work(resources) as db: ...
    """
    engine = create_engine(settings)
    cache = create_cache(settings)
    queue = create_queue(settings)
    resources = Resources(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        hasher=PasswordHasher(settings),
        token_codec=TokenCodec(settings),
        cache=cache,
        rate_limiter=RateLimiter.from_settings(settings),
        queue=queue,
        identity=Identity(authenticators(), permission_source(), caller_columns()),
        permissions=PermissionCache(),
        events=Events(event_handlers()),
        path_words=path_words,
    )
    resources.extensions = Extensions.build(extensions(), resources)
    if isinstance(queue, LocalQueue):
        queue.start(resources, run_cron=run_cron)
    try:
        yield resources
    finally:
        resources.hasher.close()
        await queue.close()
        await resources.rate_limiter.close()
        await cache.close()
        await engine.dispose()
