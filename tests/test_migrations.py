"""Alembic is the only source of the schema: it runs up, down and up again on PostgreSQL and
SQLite, and what it builds matches the models (the drift check). Each domain's tables are a
branch of their own, in the domain's folder, so a fresh install has the tables of the
installed domains only."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, inspect

from app.cli import alembic_config, schema_problem
from app.core.domain import Domain
from app.domains import DOMAINS, metadata
from tests.helpers.database import (
    create_database,
    drop_database,
    engine_for,
    execute,
    migrate,
    query,
)


def _inspect(connection: Connection) -> tuple[list[Any], set[str]]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True},
    )
    return list(compare_metadata(context, metadata)), set(inspect(connection).get_table_names())


async def _schema(url: str) -> tuple[list[Any], set[str]]:
    async with engine_for(url) as engine, engine.connect() as connection:
        return await connection.run_sync(_inspect)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _revisions_of(domain: Domain, scripts: ScriptDirectory) -> list[Script]:
    """The revisions in the domain's own folder."""
    assert domain.migrations is not None, domain.name
    folder = domain.migrations.resolve()
    return [script for script in scripts.walk_revisions() if Path(script.path).parent == folder]


def _tables_of(domain: Domain) -> set[str]:
    return {model.__tablename__ for model in domain.models}


async def _recorded(url: str) -> set[str]:
    return {str(row[0]) for row in await query(url, "SELECT version_num FROM alembic_version")}


async def _schema_problem(url: str) -> str | None:
    async with engine_for(url) as engine:
        return await schema_problem(engine)


def test_every_domain_with_tables_has_a_branch_of_its_own() -> None:
    """Each domain with models has its folder of revisions, whose branch carries the domain's
    name; every revision lives in the folder of one installed domain."""
    scripts = _scripts()
    owned: list[str] = []
    for domain in DOMAINS:
        if domain.migrations is None:
            assert not domain.models, f"{domain.name} has tables but no migrations folder"
            continue
        revisions = _revisions_of(domain, scripts)
        assert revisions, f"{domain.name} has tables but no revision in {domain.migrations}"
        assert any(domain.name in script.branch_labels for script in revisions), domain.name
        owned += [script.revision for script in revisions]
    every = [script.revision for script in scripts.walk_revisions()]
    assert sorted(owned) == sorted(every)


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
        assert {"users", "auth_sessions", "alembic_version"} <= tables
        # Every model's table, whichever domains there are, and nothing else.
        assert tables == {*metadata.tables, "alembic_version"}
    finally:
        if backend == "postgresql":
            await drop_database(url)


async def test_a_fresh_database_has_every_branch_at_its_head(tmp_path: Path) -> None:
    """`app migrate` brings every domain's branch to its head. Alembic records one revision
    per branch, less the branches that another one depends on (their head is implied), and
    the app's own check agrees that the database serves this code."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'heads.db'}"
    scripts = _scripts()
    await asyncio.to_thread(migrate, url)

    recorded = await _recorded(url)
    assert recorded == {script.revision for script in scripts.get_revisions("heads")}
    applied = {script.revision for script in scripts.iterate_revisions(tuple(recorded), "base")}
    assert applied == {script.revision for script in scripts.walk_revisions()}
    for domain in DOMAINS:
        if domain.migrations is not None:
            head = scripts.get_revision(f"{domain.name}@head")
            assert head is not None, domain.name
            assert head.revision in applied, domain.name
    assert len(scripts.get_heads()) > 1
    assert await _schema_problem(url) is None


def _upgrade_in(connection: Connection, revisions: list[str]) -> set[str]:
    """Upgrade to `revisions` on `connection`, inside its transaction; the tables then."""
    config = alembic_config()
    config.attributes["connection"] = connection  # env.py migrates on it, uncommitted
    for revision in revisions:
        command.upgrade(config, revision)
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_each_branch_migrates_alone_with_the_branches_it_depends_on(
    database_url: str,
) -> None:
    """A domain's revisions, migrated alone on PostgreSQL (which refuses a foreign key to a
    table that is not there yet), create its tables, and tables only of the domains whose
    branches it depends on. So `depends_on` names every branch a domain needs, and no
    domain's tables come from another's folder. (In a schema of its own in the run's
    database, each domain in a transaction rolled back after it: PostgreSQL's DDL is
    transactional.)"""
    scripts = _scripts()
    schema = f"alone_{secrets.token_hex(4)}"
    await execute(database_url, f'CREATE SCHEMA "{schema}"')
    alone = {"server_settings": {"search_path": schema}}
    try:
        async with (
            engine_for(database_url, connect_args=alone) as engine,
            engine.connect() as connection,
        ):
            for domain in DOMAINS:
                if domain.migrations is None:
                    continue
                own = [s.revision for s in _revisions_of(domain, scripts) if s.is_head]
                needed = {
                    Path(script.path).parent
                    for script in scripts.iterate_revisions(tuple(own), "base")
                }
                allowed = set[str]().union(
                    *(
                        _tables_of(other)
                        for other in DOMAINS
                        if other.migrations is not None and other.migrations.resolve() in needed
                    )
                )
                await connection.begin()
                tables = await connection.run_sync(_upgrade_in, own)
                await connection.rollback()
                assert _tables_of(domain) <= tables <= allowed, domain.name
    finally:
        await execute(database_url, f'DROP SCHEMA "{schema}" CASCADE')
