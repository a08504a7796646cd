"""Fixtures: a fresh PostgreSQL database per run (migrated with Alembic), emptied after each
test; the Redis database at TEST_REDIS_URL (flushed after each test); and an async HTTP client
on an app built from explicit settings.

Tests commit for real (the app owns its transactions), so isolation comes from emptying every
table after each test rather than from a rolled-back outer transaction.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings
from app.domains import metadata
from app.factory import create_app

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def _claim_redis_database() -> tuple[str, Any]:
    """TEST_REDIS_URL, or a database of the local Redis that no other test run on this machine
    holds (runs flush their database, so two runs must not share one)."""
    if "TEST_REDIS_URL" in os.environ:
        return os.environ["TEST_REDIS_URL"], None
    for number in range(15, 0, -1):
        lock_path = Path(tempfile.gettempdir()) / f"app-tests-redis-db-{number}.lock"
        handle = lock_path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return f"redis://127.0.0.1:6379/{number}", handle
    raise RuntimeError("every Redis test database is in use; set TEST_REDIS_URL")


TEST_REDIS_URL, _REDIS_LOCK = _claim_redis_database()
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
PASSWORD = "correct-horse-1"


def _admin_url() -> URL:
    url = make_url(ADMIN_DATABASE_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    return url


async def _run_admin(statement: str) -> None:
    engine = create_async_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def create_database() -> str:
    name = f"app_test_{os.getpid()}_{secrets.token_hex(4)}"
    await _run_admin(f'CREATE DATABASE "{name}"')
    return _admin_url().set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    name = make_url(url).database
    await _run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ENVIRONMENT": "local",
        "LOG_LEVEL": "WARNING",
        # Generous limits: the rate-limit tests set their own.
        "DEFAULT_RATE_LIMIT_LIMIT": 100_000,
        "LOGIN_RATE_LIMIT_LIMIT": 100_000,
        "LOGIN_ACCOUNT_RATE_LIMIT_LIMIT": 100_000,
        "CACHE_WRITE_FENCE_SECONDS": 1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def migrate(database_url: str, revision: str = "head", *, down: bool = False) -> None:
    """Run Alembic exactly as `app migrate` does, against `database_url`."""
    from alembic import command

    from app.cli import alembic_config

    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database_url
    try:
        config = alembic_config()
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
    finally:
        if previous is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = previous


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The run's database: created empty, migrated to head, dropped at the end."""
    url = asyncio.run(create_database())
    try:
        migrate(url)
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app with its lifespan started (engine, hasher), as a server would run it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as app:
        yield app


async def flush_redis() -> None:
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(scope="session", autouse=True)
def _redis_is_up() -> None:
    """The suite needs Redis: fail (never skip) when it is not there."""
    asyncio.run(flush_redis())


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    await flush_redis()
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


async def register(
    client: httpx.AsyncClient, username: str, *, password: str = PASSWORD, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": fields.pop("name", f"{username.title()} Tester"),
        "username": username,
        "email": fields.pop("email", f"{username}@example.com"),
        "password": password,
        **fields,
    }
    response = await client.post("/api/v1/user", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_superuser(database_url: str, username: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE users SET is_superuser = true WHERE username = :u"), {"u": username}
            )
    finally:
        await engine.dispose()
