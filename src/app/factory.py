"""The application factory: settings, lifespan resources, middleware, errors and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api import api_path_words, build_api_router
from app.core.config import Settings, load_settings
from app.core.errors import install_error_handlers
from app.core.identity import document
from app.core.observe import hooks, request_observer
from app.core.openapi import install_openapi
from app.core.permissions import check_required
from app.core.state import attach
from app.docs import install_docs
from app.domains import app_installers, authenticators, collectors, feature_settings, lifespans
from app.health.router import router as health_router
from app.platform.cache.early import early_routes
from app.platform.http.hosts import HostCheck
from app.platform.http.middleware import EdgeConfig, EdgeMiddleware
from app.platform.logging import configure_logging
from app.resources import open_resources

logger = logging.getLogger("app")


def lifespan_for(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: its resources are opened, attached to the app, and closed."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The words of the app's paths, from the routes it serves, for the users' rules.
        words = api_path_words(app.routes)
        async with (
            open_resources(settings, run_cron=True, path_words=words) as resources,
            AsyncExitStack() as features,
        ):
            # What features run beside the app (the metrics' process gauges).
            for lifespan in lifespans():
                await features.enter_async_context(lifespan(resources))
            if settings.is_embedded:
                logger.warning(
                    "embedded backends in use (%s): run a single process only",
                    "SQLite" if settings.is_sqlite else "in-process cache, queue and rate limits",
                )
            if settings.is_local and settings.SECRET_KEY is None:
                logger.warning("SECRET_KEY is not set: using the local development key")
            attach(app, resources)
            try:
                yield
            finally:
                attach(app, None)
        logger.info("shut down: resources closed")

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # Every installed feature's own settings, read and checked before anything is served.
    settings.load_features(feature_settings())
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    # What observes the platform (core/observe.py): the process's hooks, and below the
    # middleware's request observer.
    observing = collectors(settings)
    hooks.install(observing)
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
        lifespan=lifespan_for(settings),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.include_router(build_api_router())
    # Every permission a route requires is declared by a domain.
    check_required()
    app.include_router(health_router)
    install_openapi(app, document(authenticators()))
    install_docs(app, settings)
    for install in app_installers():
        install(app, settings)
    # One layer (platform/http/middleware.py, which runs the steps of platform/http/ in a fixed
    # order): request id and access log, the Host allow-list, clean URL, body and header
    # bounds, the body read within its deadline, admission, cache hits answered before
    # routing, limit and caching headers, the request observer, unhandled errors.
    hosts = settings.allowed_hosts
    # Probes and scrapers reach the server by internal names.
    internal = {"/health"}.union(*(collector.scrape_paths for collector in observing))
    edge = EdgeConfig(
        max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
        client_max_age=settings.CLIENT_CACHE_MAX_AGE,
        early_routes=tuple(early_routes(app.routes)),
        max_in_flight=settings.MAX_IN_FLIGHT_REQUESTS,
        queue_timeout=settings.QUEUE_TIMEOUT_SECONDS,
        observer=request_observer(observing, app.routes),
        allowed_hosts=None if hosts is None else HostCheck(hosts, internal),
        body_timeout=settings.REQUEST_BODY_TIMEOUT_SECONDS,
        max_headers=settings.MAX_REQUEST_HEADERS,
        # As much as the requests in flight may hold of bodies anyway.
        max_buffered_bytes=settings.MAX_IN_FLIGHT_REQUESTS * settings.MAX_REQUEST_BODY_BYTES,
    )
    app.add_middleware(EdgeMiddleware, config=edge)
    if settings.TRUSTED_PROXIES:
        # In front of it: the client address forwarded by a trusted proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.TRUSTED_PROXIES)
    return app
