"""The application factory: settings, lifespan resources, middleware, errors and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api import api_router
from app.core.cache import CacheBackend, CacheHitMiddleware, MemoryCache, RedisCache
from app.core.config import Settings, load_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import (
    BodySizeLimitMiddleware,
    ClientCacheMiddleware,
    RateLimitHeadersMiddleware,
    RequestContextMiddleware,
    UrlGuardMiddleware,
)
from app.core.queue import ArqQueue, JobQueue, LocalQueue
from app.core.rate_limit import RateLimiter
from app.core.security import PasswordHasher, TokenCodec
from app.docs import install_docs
from app.health.router import router as health_router

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.hasher = PasswordHasher(settings)
    app.state.cache = create_cache(settings)
    app.state.rate_limiter = RateLimiter.from_settings(settings)
    app.state.queue = create_queue(settings, app.state.sessionmaker)
    if settings.is_embedded:
        logger.warning(
            "embedded backends in use (%s): run a single process only",
            "SQLite" if settings.is_sqlite else "in-process cache, queue and rate limits",
        )
    if settings.is_local and settings.SECRET_KEY is None:
        logger.warning("SECRET_KEY is not set: using the local development key")
    try:
        yield
    finally:
        app.state.hasher.close()
        await app.state.queue.close()
        await app.state.rate_limiter.close()
        await app.state.cache.close()
        await engine.dispose()


def create_cache(settings: Settings) -> CacheBackend:
    fence = settings.CACHE_WRITE_FENCE_SECONDS
    url = settings.cache_redis_url
    if url is None:
        return MemoryCache(fence)
    timeout = settings.REDIS_TIMEOUT_SECONDS
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return RedisCache(client, fence)


def create_queue(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> JobQueue:
    from app.jobs import FUNCTIONS

    url = settings.queue_redis_url
    if url is None:
        return LocalQueue(FUNCTIONS, {"settings": settings, "sessionmaker": sessionmaker}, settings)
    return ArqQueue(url, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    contact = {
        key: value
        for key, value in (("name", settings.CONTACT_NAME), ("email", settings.CONTACT_EMAIL))
        if value
    }
    app = FastAPI(
        title=settings.APP_NAME,
        description=settings.APP_DESCRIPTION,
        version=settings.APP_VERSION,
        contact=contact or None,
        license_info={"name": settings.LICENSE_NAME} if settings.LICENSE_NAME else None,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.token_codec = TokenCodec(settings)
    install_error_handlers(app)
    # The last added runs first: client address, request id and access log, clean URL, body
    # bound, caching headers, limit headers, cache hits answered before routing.
    app.state.early_cache_routes = {}
    app.add_middleware(CacheHitMiddleware)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(ClientCacheMiddleware, max_age=settings.CLIENT_CACHE_MAX_AGE)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(UrlGuardMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.TRUSTED_PROXIES)
    app.include_router(api_router)
    app.include_router(health_router)
    install_docs(app, settings)
    return app
