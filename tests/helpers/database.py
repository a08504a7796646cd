"""Databases for the tests: created and dropped on the local PostgreSQL server, migrated with
Alembic exactly as `app migrate` does; and SQL run directly, beside the app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.domains import metadata

T = TypeVar("T")

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def _admin_url() -> URL:
    url = make_url(ADMIN_DATABASE_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    return url


@asynccontextmanager
async def engine_for(url: str | URL, **options: Any) -> AsyncIterator[AsyncEngine]:
    """An engine of its own, disposed of on the way out."""
    engine = create_async_engine(url, **options)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _run_admin(statement: str) -> None:
    async with (
        engine_for(_admin_url(), isolation_level="AUTOCOMMIT") as engine,
        engine.connect() as conn,
    ):
        await conn.execute(text(statement))


async def create_database() -> str:
    """A new empty PostgreSQL database; its URL."""
    name = f"app_test_{os.getpid()}_{secrets.token_hex(4)}"
    await _run_admin(f'CREATE DATABASE "{name}"')
    return _admin_url().set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    _emptying.pop(url, None)
    _forget_connection(url)
    name = make_url(url).database
    await _run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(database_url: str, revision: str = "heads", *, down: bool = False) -> None:
    """Run Alembic exactly as `app migrate` does, against `database_url`. (Alembic's env runs
    an event loop of its own: from async code, call this in a thread.)"""
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


async def query(url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Every row `statement` returns."""
    async with engine_for(url) as engine, engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(statement), params)).all()]


async def execute(url: str, statement: str, **params: Any) -> Any:
    """Run one statement in its own committed transaction; the first column of the first row
    (None when it returns no rows)."""
    async with engine_for(url) as engine, engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return result.scalar() if result.returns_rows else None


async def table_names(url: str) -> set[str]:
    async with engine_for(url) as engine, engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


# Not emptied but bumped, as every change of the grants does in production: the processes of
# a run cache users' permissions under its value, and user ids restart with every test, so an
# unchanged (or reset, then reached again) version would serve one test's grants to the users
# of the next. Only there when roles are installed.
GRANTS_VERSION_TABLE = "grants_version"


# Per database, the script that empties it (built on first use).
_emptying: dict[str, str] = {}

# Per database, a connection kept for what runs around every test (emptying the tables,
# making a superuser), on the event loop that opened it: a new connection costs more than the
# statements it runs.
_kept: dict[str, tuple[asyncio.AbstractEventLoop, asyncpg.Connection]] = {}


def _forget_connection(url: str) -> None:
    kept = _kept.pop(url, None)
    if kept is not None:
        with contextlib.suppress(Exception):  # its loop may be closed: only the socket is left
            kept[1].terminate()


async def close_kept_connections() -> None:
    """Close the kept connections of the running loop (at its end); forget the others."""
    loop = asyncio.get_running_loop()
    for url, (owner, conn) in list(_kept.items()):
        if owner is loop:
            del _kept[url]
            await conn.close()
        else:
            _forget_connection(url)


async def _kept_connection(url: str) -> asyncpg.Connection:
    """The connection kept for `url` on the running loop, opened when there is none yet."""
    loop = asyncio.get_running_loop()
    kept = _kept.get(url)
    if kept is None or kept[0] is not loop or kept[1].is_closed():
        _forget_connection(url)
        dsn = make_url(url).set(drivername="postgresql")
        kept = _kept[url] = (loop, await asyncpg.connect(dsn.render_as_string(hide_password=False)))
    return kept[1]


async def _run_kept(url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` on the connection kept for `url`; once more on a new one when it was lost."""
    try:
        return await work(await _kept_connection(url))
    except (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.InterfaceError):
        _forget_connection(url)
        return await work(await _kept_connection(url))


async def _emptying_script(conn: asyncpg.Connection) -> str:
    """DELETE every table's rows, children first, restart every sequence and move the grants
    version on, in one script. Not TRUNCATE: on the few rows a test leaves, TRUNCATE's new
    files cost PostgreSQL about twenty times as much, after every test."""
    deletes = [
        f'DELETE FROM "{table.name}"'  # noqa: S608 (the models' own table names)
        for table in reversed(metadata.sorted_tables)
        if table.name != GRANTS_VERSION_TABLE
    ]
    sequences = await conn.fetch(
        "SELECT quote_ident(sequence_schema) || '.' || quote_ident(sequence_name) "
        "FROM information_schema.sequences WHERE sequence_schema = current_schema()"
    )
    restarts = [f"ALTER SEQUENCE {row[0]} RESTART" for row in sequences]
    bump = []
    if GRANTS_VERSION_TABLE in metadata.tables:
        bump = [
            "INSERT INTO grants_version (id, version) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET version = grants_version.version + 1"
        ]
    return "; ".join(["BEGIN", *deletes, *restarts, *bump, "COMMIT"])


async def empty_tables(url: str) -> None:
    """Every table of the models emptied, identities restarted (what each test starts from);
    the grants version, when there is one, moved on, which drops every process's cached
    permissions. One round trip, in one transaction."""

    async def empty(conn: asyncpg.Connection) -> None:
        script = _emptying.get(url) or _emptying.setdefault(url, await _emptying_script(conn))
        await conn.execute(script)  # several statements: asyncpg sends them at once

    await _run_kept(url, empty)


async def wait_for_lock_waiters(
    url: str, done: Callable[[], bool], count: int = 1, seconds: float = 10
) -> None:
    """Until `count` sessions of the database wait on a lock (a request meeting a change that
    another transaction holds uncommitted); fails when `done()` first (the request ended
    without meeting it) or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        assert not done(), "the request ended without waiting on the uncommitted change"
        rows = await query(
            url,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        if rows[0][0] >= count:
            return
        assert time.monotonic() < deadline, f"{rows[0][0]} of {count} sessions wait on a lock"
        await asyncio.sleep(0.05)


async def make_superuser(database_url: str, username: str) -> None:
    async def promote(conn: asyncpg.Connection) -> None:
        await conn.execute("UPDATE users SET is_superuser = true WHERE username = $1", username)

    await _run_kept(database_url, promote)
