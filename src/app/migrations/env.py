"""Alembic environment: the database URL comes from the app's settings, and the version
locations from the installed domains, never from alembic.ini."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import load_settings
from app.core.db import create_engine
from app.domains import metadata, migration_locations

config = context.config

# Each installed domain's folder holds its own branch. `app migrate` passes the same folders in
# its config; `alembic` reads alembic.ini, which names none (removing a feature would mean
# editing it), so they are set here, before any command reads a revision.
context.script.version_locations = [str(path) for path in migration_locations()]


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    # SQLite rebuilds a table to alter it (batch mode); with foreign keys on, dropping the old
    # table would cascade into the rows that reference it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


async def _run_async(engine: AsyncEngine) -> None:
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    asyncio.run(_run_async(create_engine(load_settings())))


if context.is_offline_mode():
    context.configure(
        url=load_settings().database_url.render_as_string(hide_password=False),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
