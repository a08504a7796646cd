"""Reads in one round trip: a SQLAlchemy statement compiled once, run outside any transaction.

The hot read paths (a user by name, the token's user, a post, a page) need no unit of work,
no identity map and no BEGIN/COMMIT around their one `SELECT`. A `Query` holds a Core
statement (so SQLAlchemy stays the one source of the SQL), compiles it once per dialect, and
runs it on a connection from the engine's pool: on asyncpg, as a prepared statement on the
driver connection (asyncpg keeps it prepared per connection), with nothing in between; on
other drivers (SQLite), through SQLAlchemy Core. Rows come back as mappings of column labels.

The driver's errors bypass SQLAlchemy there, so the path does what SQLAlchemy does on a
disconnect itself: a connection the server has ended (a restart) is invalidated together with
every connection of the pool opened before it, and a statement that only reads is run once
more, on a fresh connection. A connection stuck in an unfinished operation is invalidated
alone. Nothing is checked before the statement runs: the hot path pays no extra round trip.

Repositories keep their `Query` objects to themselves and run them through the unit of work
(`Db.rows` and `Db.row`, core/db.py), which runs them here while it has no transaction open
and through its transaction once it has one:

    BY_NAME = Query(select(User.id, User.name).where(User.username == bindparam("username")))
    row = await self.db.row(BY_NAME, username="ada")      # in a repository
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Executable

from app.core.db_errors import connection_busy, describe, session_ended

logger = logging.getLogger(__name__)


class Query:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Only a read is run again after a lost connection: a write may have been applied.
        self.is_read: bool = bool(getattr(statement, "is_select", False))
        # Per dialect: the SQL text, its bind parameters' names in positional order, and the
        # values bound in the statement itself (used when the call does not name them).
        self._compiled: dict[int, tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    def _native(self, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        key = id(dialect)
        found = self._compiled.get(key)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            names = tuple(compiled.positiontup or ())
            found = self._compiled[key] = (str(compiled), names, dict(compiled.params))
        return found

    async def all(self, engine: AsyncEngine, **params: Any) -> Sequence[Mapping[str, Any]]:
        if engine.dialect.driver == "asyncpg":
            sql, names, bound = self._native(engine.dialect)
            values = [params[name] if name in params else bound[name] for name in names]
            retry = self.is_read
            while True:
                async with engine.connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver: Any = raw.driver_connection
                    try:
                        rows: Sequence[Mapping[str, Any]] = await driver.fetch(sql, *values)
                        return rows
                    except Exception as exc:
                        if not await _discard_if_broken(engine, connection, raw, exc) or not retry:
                            raise
                retry = False  # once: a second failure is answered (a 503)
        async with engine.connect() as connection:
            result = await connection.execute(self.statement, params)
            return [dict(row) for row in result.mappings()]

    async def one(self, engine: AsyncEngine, **params: Any) -> Mapping[str, Any] | None:
        rows = await self.all(engine, **params)
        return rows[0] if rows else None


async def _discard_if_broken(
    engine: AsyncEngine, connection: AsyncConnection, raw: PoolProxiedConnection, exc: Exception
) -> bool:
    """Take the connection out of the pool if `exc` left it unusable (True), as SQLAlchemy's
    own statements do on a disconnect: when the server ended it, every connection of the pool
    opened before it is replaced as it is next checked out (a restart ended them all)."""
    driver: Any = raw.driver_connection
    ended = driver.is_closed() or session_ended(exc)
    if not ended and not connection_busy(exc):
        return False
    if ended:
        # What Connection._handle_dbapi_exception does when the dialect says is_disconnect.
        engine.pool._invalidate(raw, exc, _checkin=False)
    await connection.invalidate(exc)
    logger.warning("database connection discarded: %s", describe(exc))
    return True
