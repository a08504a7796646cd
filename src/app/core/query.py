"""Reads in one round trip: a SQLAlchemy statement compiled once, run outside any transaction.

The hot read paths (a user by name, the token's user, a post, a page) need no unit of work,
no identity map and no BEGIN/COMMIT around their one `SELECT`. A `Query` holds a Core
statement (so SQLAlchemy stays the one source of the SQL), compiles it once per dialect, and
runs it on a connection from the engine's pool: on asyncpg, as a prepared statement on the
driver connection (asyncpg keeps it prepared per connection), with nothing in between; on
other drivers (SQLite), through SQLAlchemy Core. Rows come back as mappings of column labels.

    BY_NAME = Query(select(User.id, User.name).where(User.username == bindparam("username")))
    row = await BY_NAME.one(engine, username="ada")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable


class Query:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
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
            async with engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                rows: Sequence[Mapping[str, Any]] = await driver.fetch(sql, *values)
                return rows
        async with engine.connect() as connection:
            result = await connection.execute(self.statement, params)
            return [dict(row) for row in result.mappings()]

    async def one(self, engine: AsyncEngine, **params: Any) -> Mapping[str, Any] | None:
        rows = await self.all(engine, **params)
        return rows[0] if rows else None
