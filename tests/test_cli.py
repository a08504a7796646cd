from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, inspect

from app.cli import alembic_config, main
from tests.helpers.database import engine_for, execute, query, table_names
from tests.helpers.features import needs
from tests.helpers.http import API, bearer, login, register
from tests.helpers.processes import APP
from tests.helpers.roles import permissions_of
from tests.helpers.settings import app_env


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _heads(scripts: ScriptDirectory) -> set[str]:
    """What a database at every branch's head records (a branch that another depends on is
    implied by the dependent's revision)."""
    return {script.revision for script in scripts.get_revisions("heads")}


def _newest(scripts: ScriptDirectory, revisions: set[str]) -> Script:
    """The newest of `revisions`: file names begin with their creation time."""
    return max(scripts.get_revisions(tuple(revisions)), key=lambda script: Path(script.path).name)


async def _schema(url: str) -> dict[str, set[str]]:
    """Every table with its columns and its indexes (as "index:<name>"), alembic's own
    table left out."""

    def read(connection: Connection) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            table: {column["name"] for column in inspector.get_columns(table)}
            | {f"index:{index['name']}" for index in inspector.get_indexes(table)}
            for table in inspector.get_table_names()
            if table != "alembic_version"
        }

    async with engine_for(url) as engine, engine.connect() as conn:
        return await conn.run_sync(read)


async def _revisions(url: str) -> set[str]:
    return {str(row[0]) for row in await query(url, "SELECT version_num FROM alembic_version")}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ADMIN_NAME", "Root Admin")
    monkeypatch.setenv("ADMIN_USERNAME", "root")
    monkeypatch.setenv("ADMIN_EMAIL", "Root@Example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "root-password-1")
    return database_url


def test_create_superuser_from_admin_settings_twice_is_harmless(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-superuser"]) == 0
    assert "superuser 'root' created" in capsys.readouterr().out
    assert main(["create-superuser"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    rows = asyncio.run(
        query(env, "SELECT username, email, is_superuser, hashed_password FROM users")
    )
    assert len(rows) == 1
    username, email, is_superuser, hashed = rows[0]
    assert (username, email, is_superuser) == ("root", "root@example.com", True)
    assert isinstance(hashed, str)
    assert hashed.startswith("$argon2id$")
    assert "root-password-1" not in capsys.readouterr().out


def test_create_superuser_options_override_settings(env: str) -> None:
    args = ["--username", "boss", "--email", "boss@example.com", "--password", "boss-pass-123"]
    assert main(["create-superuser", *args]) == 0
    rows = asyncio.run(query(env, "SELECT username, is_superuser FROM users"))
    assert rows == [("boss", True)]


def test_create_superuser_refuses_invalid_values(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-superuser", "--username", "Bad Name", "--password", "short"]) == 2
    err = capsys.readouterr().err
    assert "invalid superuser" in err
    assert "username" in err
    assert "password" in err
    assert "short" not in err.replace("should have at least", "")
    assert asyncio.run(query(env, "SELECT count(*) FROM users")) == [(0,)]


def test_create_superuser_may_take_a_reserved_name_but_no_path_word(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default ADMIN_USERNAME, `admin`, is reserved for the public API only; a word of the
    API's paths would make the superuser's pages unreachable, so it is refused here too."""
    assert main(["create-superuser", "--username", "login"]) == 2
    err = capsys.readouterr().err
    assert "invalid superuser: username: This username is reserved: it is a path of the API" in err
    assert asyncio.run(query(env, "SELECT count(*) FROM users")) == [(0,)]

    args = ["--username", "admin", "--email", "admin@example.com"]
    assert main(["create-superuser", *args]) == 0
    assert "superuser 'admin' created" in capsys.readouterr().out
    assert asyncio.run(query(env, "SELECT username, is_superuser FROM users")) == [("admin", True)]


async def test_a_command_that_loses_the_database_says_so_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    # A slow hash keeps the command between its reads of the users and its insert: the
    # session it read on (opened after the test began, unlike any other of this database) is
    # ended there, as a database restart would end it, and the insert meets the loss.
    env = app_env(database_url, ADMIN_PASSWORD="root-password-1", PASSWORD_HASH_TIME_COST=100)
    started = await execute(database_url, "SELECT now()")
    process = await asyncio.create_subprocess_exec(
        APP,
        "create-superuser",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ended = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_start >= :started "
        "AND state = 'idle' AND query LIKE '%FROM users%'"
    )
    deadline = time.monotonic() + 30
    while not await execute(database_url, ended, started=started):
        assert process.returncode is None, "the command ended before its session was ended"
        assert time.monotonic() < deadline, "the command never waited before its insert"
        await asyncio.sleep(0.02)
    _, err = await process.communicate()
    assert process.returncode == 1, err
    assert err.decode().startswith("error: the database became unavailable: "), err
    assert b"Traceback" not in err
    assert await query(database_url, "SELECT count(*) FROM users") == [(0,)]


@needs("posts")
def test_migrate_steps_back_and_forth_across_the_branches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every domain's tables are a branch of their own, so the database has several heads.
    `migrate -1` undoes the newest revision it has, whichever branch, and keeps the others:
    the schema is then the one that migrating a fresh database to the remaining heads builds.
    `<branch>@base` undoes one branch, `base` all of them, and `migrate` brings them back."""
    scripts = _scripts()
    heads = _heads(scripts)
    assert len(heads) > 1
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 0
    assert "migrated to heads" in capsys.readouterr().out
    assert asyncio.run(_revisions(url)) == heads
    at_head = asyncio.run(_schema(url))
    assert {"users", "auth_sessions"} <= set(at_head)

    newest = _newest(scripts, heads)
    assert main(["migrate", "-1"]) == 0
    assert f"stepped back {newest.revision}" in capsys.readouterr().out
    remaining = asyncio.run(_revisions(url))
    assert newest.revision not in remaining
    assert heads - {newest.revision} <= remaining
    stepped_back = asyncio.run(_schema(url))
    assert stepped_back != at_head

    fresh = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", fresh)
    for revision in sorted(remaining):
        assert main(["migrate", revision]) == 0
    assert asyncio.run(_schema(fresh)) == stepped_back

    monkeypatch.setenv("DATABASE_URL", url)
    capsys.readouterr()
    assert main(["migrate", "-2"]) == 0
    assert capsys.readouterr().out.count("stepped back") == 2
    assert main(["migrate", "head"]) == 0  # one head names no branch: every head is meant
    assert asyncio.run(_revisions(url)) == heads
    assert asyncio.run(_schema(url)) == at_head

    branch = sorted(newest.branch_labels)[0]
    assert main(["migrate", f"{branch}@base"]) == 0
    assert asyncio.run(_revisions(url)) == remaining
    assert asyncio.run(_schema(url)) == stepped_back

    assert main(["migrate", "base"]) == 0
    assert asyncio.run(table_names(url)) == {"alembic_version"}
    assert main(["migrate", "-1"]) == 2  # nothing left to step back
    assert "cannot migrate" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    assert asyncio.run(_schema(url)) == at_head


def test_commands_refuse_a_database_at_a_revision_this_code_does_not_have(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A branch whose folder is gone (a feature removed after migrating, or newer code's
    revision): the commands say so, rather than asking for a migration that cannot run."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 0
    asyncio.run(execute(url, "INSERT INTO alembic_version (version_num) VALUES ('0123456789ab')"))
    capsys.readouterr()
    assert main(["create-superuser"]) == 2
    err = capsys.readouterr().err
    assert "the database is at migration 0123456789ab, which this code does not have" in err
    assert "@base" in err


def test_serve_refuses_several_workers_on_embedded_backends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "allow one process" in capsys.readouterr().err


def test_worker_without_redis_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("REDIS_URL", "REDIS_QUEUE_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert main(["worker"]) == 2
    assert "the worker needs Redis" in capsys.readouterr().err


def test_configuration_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert main(["migrate"]) == 2
    assert "SECRET_KEY" in capsys.readouterr().err


# --- create-role and grant, as the installed command -----------------------------------------


class Ran:
    """What one `app` process did."""

    def __init__(self, args: tuple[str, ...], code: int | None, out: bytes, err: bytes) -> None:
        self.args, self.code = args, code
        self.out, self.err = out.decode(), err.decode()

    def __repr__(self) -> str:
        return f"app {' '.join(self.args)} -> {self.code}\n{self.out}{self.err}"

    def ok(self, *needles: str) -> None:
        assert self.code == 0, self
        assert "Traceback" not in self.out + self.err, self
        for needle in needles:
            assert needle in self.out, self

    def fails_in_one_line(self, code: int | None, *needles: str) -> None:
        """Exit `code` (None: any but 0) and one `error: ...` line on stderr, naming `needles`."""
        assert self.code != 0 if code is None else self.code == code, self
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self
        assert lines[0].startswith("error: "), self
        for needle in needles:
            assert needle in lines[0], self


async def app_cli(cwd: Path, env: dict[str, str], *args: str) -> Ran:
    """`app ARGS...` as its own process, run beside others (asyncio subprocesses)."""
    process = await asyncio.create_subprocess_exec(
        APP,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return Ran(args, process.returncode, out, err)


@needs("roles")
async def test_create_role_and_grant_commands(
    client: httpx.AsyncClient, tmp_path: Path, database_url: str
) -> None:
    """The installed `app create-role` and `app grant`, each a fresh process (which must
    register the permissions itself) in an empty directory. (Each process costs seconds: the
    reruns and refusals are checked in-process below, but for one rerun run beside the grant.)"""
    await register(client, "alice")
    env = app_env(database_url)

    created = await app_cli(
        tmp_path, env, "create-role", "editor", "--permissions", "posts.delete_any"
    )
    created.ok("role 'editor' created: posts.delete_any")
    granted, recreated = await asyncio.gather(
        app_cli(tmp_path, env, "grant", "alice", "editor"),
        app_cli(tmp_path, env, "create-role", "editor", "--permissions", "posts.delete_any"),
    )
    granted.ok("role 'editor' granted to 'alice'")
    recreated.ok("role 'editor' exists, unchanged")

    alice = bearer(await login(client, "alice"))
    assert await permissions_of(client, alice) == ["posts.delete_any"]
    role = (await client.get(f"{API}/roles/editor", headers=alice)).status_code
    assert role == 403  # the permission to delete posts, not to manage roles
    assert await asyncio.to_thread(os.listdir, tmp_path) == []  # nothing written where it ran


@needs("roles")
def test_create_role_and_grant_reruns_and_refusals(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-superuser"]) == 0  # root
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def one_error_line(err: str, *needles: str) -> None:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("error: "), err
        for needle in needles:
            assert needle in lines[0], err

    assert run("create-role", "editor", "--permissions", "posts.delete_any,posts.purge")[0] == 0
    code, out, _ = run("create-role", "editor", "--permissions", "posts.purge", "posts.delete_any")
    assert (code, "role 'editor' exists, unchanged" in out) == (0, True), out
    assert run("grant", "root", "editor")[:2] == (0, "role 'editor' granted to 'root'\n")
    assert run("grant", "root", "editor")[:2] == (0, "role 'editor' already held by 'root'\n")
    # New permissions for an existing role: updated, and said so.
    code, out, _ = run("create-role", "editor", "--permissions", "posts.delete_any")
    assert (code, "role 'editor' updated: posts.delete_any") == (0, out.strip())

    code, _, err = run("create-role", "flyer", "--permissions", "posts.delete_any,posts.fly")
    assert code == 2
    one_error_line(err, "unknown permissions: posts.fly", "known:", "posts.delete_any")
    code, _, err = run("create-role", "bad name", "--permissions", "nope")
    assert code == 2
    one_error_line(err, "invalid role")
    code, _, err = run("grant", "ghost", "editor")
    assert code != 0
    one_error_line(err, "User not found", "ghost")
    code, _, err = run("grant", "root", "ghost")
    assert code != 0
    one_error_line(err, "Role not found", "ghost")

    rows = asyncio.run(query(env, "SELECT name, permissions FROM roles"))
    assert [(name, json_list(perms)) for name, perms in rows] == [("editor", ["posts.delete_any"])]
    assert asyncio.run(query(env, "SELECT count(*) FROM user_roles")) == [(1,)]


def json_list(value: object) -> object:
    """A JSON column as the driver returns it (asyncpg gives the text)."""
    return json.loads(value) if isinstance(value, str) else value
