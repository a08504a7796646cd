"""Fixtures: a fresh PostgreSQL database per run (migrated with Alembic), emptied after each
test; the Redis database at TEST_REDIS_URL (flushed after each test); an app built from
explicit settings with an async HTTP client, apps with other settings (`app_client`), and a
signed-in superuser (`superuser_headers`).

Tests commit for real (the app owns its transactions), so isolation comes from emptying every
table after each test rather than from a rolled-back outer transaction.

The helpers these fixtures use, and that test modules import, live in tests/helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.helpers.cache import flush_redis
from tests.helpers.database import (
    close_kept_connections,
    create_database,
    drop_database,
    empty_tables,
    migrate,
)
from tests.helpers.http import (
    AppClient,
    AppClientFactory,
    Headers,
    client_for,
    running_app,
    sign_up_superuser,
    started_client,
)
from tests.helpers.settings import make_settings


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The run's database: created empty, migrated to every head, dropped at the end."""
    url = asyncio.run(create_database())
    try:
        migrate(url)
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as app:
        yield app


@pytest.fixture(scope="session", autouse=True)
def _redis_is_up() -> None:
    """The suite needs Redis: fail (never skip) when it is not there."""
    asyncio.run(flush_redis())


@pytest.fixture(scope="session", autouse=True)
async def _kept_connections() -> AsyncIterator[None]:
    """The connections the helpers keep open on the session's loop, closed at its end."""
    yield
    await close_kept_connections()


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    await flush_redis()
    if "database_url" in request.fixturenames:
        await empty_tables(request.getfixturevalue("database_url"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def app_client(database_url: str) -> AppClientFactory:
    """Clients of new app instances on the run's database, with settings overridden:
    `async with app_client(DEFAULT_RATE_LIMIT_LIMIT=2) as client` (`client.app` is the app).
    Without overrides, another instance configured like the session's app."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[AppClient]:
        return started_client(make_settings(database_url, **overrides))

    return start


@pytest.fixture
async def superuser_headers(app: FastAPI, database_url: str) -> Headers:
    """The bearer headers of a registered superuser (`tests.helpers.http.SUPERUSER`), signed
    in on the session's app (valid on every app instance of the run)."""
    async with client_for(app) as client:
        return await sign_up_superuser(client, database_url)
