"""Alembic is the only source of the schema: it runs up, down and up again on PostgreSQL and
SQLite, and what it builds matches the models (the drift check)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from app.domains import metadata
from tests.helpers.database import create_database, drop_database, engine_for, migrate


def _inspect(connection: Connection) -> tuple[list[Any], set[str]]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True},
    )
    return list(compare_metadata(context, metadata)), set(inspect(connection).get_table_names())


async def _schema(url: str) -> tuple[list[Any], set[str]]:
    async with engine_for(url) as engine, engine.connect() as connection:
        return await connection.run_sync(_inspect)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_upgrade_downgrade_upgrade_matches_models(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        url = await create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    try:
        # Alembic's env runs its own event loop, so it runs in a thread here.
        await asyncio.to_thread(migrate, url)
        await asyncio.to_thread(migrate, url, "base", down=True)
        _, tables = await _schema(url)
        assert tables <= {"alembic_version"}

        await asyncio.to_thread(migrate, url)
        diff, tables = await _schema(url)
        assert diff == [], f"models and migrations differ: {diff}"
        assert {"users", "auth_sessions", "link_tokens", "mail_outbox", "alembic_version"} <= tables
        # Every model's table, whichever domains there are, and nothing else.
        assert tables == {*metadata.tables, "alembic_version"}
    finally:
        if backend == "postgresql":
            await drop_database(url)
