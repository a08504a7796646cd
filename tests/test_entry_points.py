"""Every entry point run as a user runs it: the installed `app ...` and `alembic` commands,
each a fresh process in an empty working directory with only the settings it is given, on a
fresh PostgreSQL database (and on the embedded SQLite default where the command applies).

A fresh process has imported nothing the test process has: a model that only some modules
register, or a traceback where a message belongs, shows here and nowhere else."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.platform.queue.arq_backend import QUEUE_NAME
from tests.helpers.database import create_database, drop_database, execute
from tests.helpers.features import installed, needs
from tests.helpers.processes import (
    ALEMBIC,
    APP,
    Process,
    TcpRelay,
    clean_env,
    free_port,
    run,
    run_app,
)
from tests.helpers.settings import TEST_REDIS_URL, TEST_SECRET_KEY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
NOT_MIGRATED = "the database has no schema yet: run `app migrate` first"
ADMIN = {
    "ADMIN_NAME": "Root Admin",
    "ADMIN_USERNAME": "root",
    "ADMIN_EMAIL": "Root@Example.com",
    "ADMIN_PASSWORD": "root-password-1",
}


def assert_fails_in_one_line(
    result: subprocess.CompletedProcess[str], code: int, *needles: str
) -> None:
    """A refusal a user can read: the exit code, one `error: ...` line, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    for needle in needles:
        assert needle in lines[0], output


def assert_ok(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in result.stdout, output


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    return asyncio.run(_rows(url, sql))


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A PostgreSQL database of its own, empty: not migrated."""
    url = asyncio.run(create_database())
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture
def postgres_env(fresh_database: str) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=fresh_database,
        REDIS_URL=TEST_REDIS_URL,
        SECRET_KEY=TEST_SECRET_KEY,
        SAMPLE_TASK_SLEEP_SECONDS="0.1",
        **ADMIN,
    )


@pytest.fixture
def embedded_env() -> dict[str, str]:
    """No configuration at all but the first admin: a SQLite file in the working directory
    and in-process backends."""
    return clean_env(**ADMIN)


# --- before `app migrate` --------------------------------------------------------------------


# A feature's command (create-tier: the tiers feature) goes the same way as the core's.
CREATE_TIER = pytest.param(["create-tier"], marks=needs("tiers"), id="create-tier")


@pytest.mark.parametrize("command", [["create-superuser"], CREATE_TIER, ["serve"], ["worker"]])
def test_commands_before_migrate_say_to_migrate(
    command: list[str], tmp_path: Path, postgres_env: dict[str, str], fresh_database: str
) -> None:
    if command == ["serve"]:
        command = ["serve", "--port", str(free_port())]
    result = run_app(*command, cwd=tmp_path, env=postgres_env, timeout=60)
    assert_fails_in_one_line(result, 2, NOT_MIGRATED)
    # Nothing was created on the way: not even Alembic's version table.
    tables = rows(fresh_database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables == []


@pytest.mark.parametrize("command", [["create-superuser"], CREATE_TIER, ["serve"]])
def test_embedded_commands_before_migrate_say_to_migrate(
    command: list[str], tmp_path: Path, embedded_env: dict[str, str]
) -> None:
    if command == ["serve"]:
        command = ["serve", "--port", str(free_port())]
    result = run_app(*command, cwd=tmp_path, env=embedded_env, timeout=60)
    assert_fails_in_one_line(result, 2, NOT_MIGRATED)


def test_commands_on_an_older_schema_say_to_migrate(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env))
    assert_ok(run_app("migrate", "-1", cwd=tmp_path, env=postgres_env))
    result = run_app("create-superuser", cwd=tmp_path, env=postgres_env)
    assert_fails_in_one_line(result, 2, "this code needs", "run `app migrate`")
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env))
    assert_ok(run_app("create-superuser", cwd=tmp_path, env=postgres_env), "created")


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL="postgresql://app:s3cret-pw@127.0.0.1:1/nothing", REDIS_URL=TEST_REDIS_URL
    )
    commands = [["migrate"], ["create-superuser"]]
    if installed("tiers"):
        commands.append(["create-tier"])
    for command in commands:
        result = run_app(*command, cwd=tmp_path, env=env, timeout=60)
        assert_fails_in_one_line(result, 1, "cannot reach the database at")
        assert "s3cret-pw" not in result.stdout + result.stderr
    # --wait retries for that long, saying so, then gives up with the same line.
    waited = run_app("migrate", "--wait", "1", cwd=tmp_path, env=env, timeout=60)
    assert waited.returncode == 1, waited.stderr
    *waiting, last = waited.stderr.strip().splitlines()
    assert waiting, waited.stderr
    assert all(line.startswith("waiting for the database") for line in waiting), waited.stderr
    assert last.startswith("error: cannot reach the database at"), waited.stderr
    assert "s3cret-pw" not in waited.stdout + waited.stderr


def test_migrate_waits_for_a_database_that_is_still_starting(
    tmp_path: Path, fresh_database: str
) -> None:
    """Refused connections are retried until the server listens (a new container's database
    runs a temporary server on its Unix socket only, then the real one)."""
    url = make_url(fresh_database)
    port = free_port()
    env = clean_env(
        DATABASE_URL=url.set(port=port).render_as_string(hide_password=False),
        REDIS_URL=TEST_REDIS_URL,
    )
    migrate = subprocess.Popen(
        [APP, "migrate", "--wait", "60"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        assert migrate.poll() is None, migrate.communicate()
        with TcpRelay(port, (url.host or "127.0.0.1", url.port or 5432)):
            out, err = migrate.communicate(timeout=90)
    finally:
        if migrate.poll() is None:
            migrate.kill()
            migrate.communicate()
    assert migrate.returncode == 0, out + err
    assert "database migrated to head" in out
    assert "waiting for the database (ConnectionRefusedError)" in err
    assert ("alembic_version",) in rows(
        fresh_database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )


def test_migrate_does_not_wait_out_a_refusal_that_waiting_cannot_cure(tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL="postgresql://no_such_role:s3cret-pw@127.0.0.1:5432/postgres",
        REDIS_URL=TEST_REDIS_URL,
    )
    started = time.monotonic()
    result = run_app("migrate", "--wait", "60", cwd=tmp_path, env=env, timeout=90)
    assert_fails_in_one_line(
        result, 1, "cannot connect to the database at", 'role "no_such_role" does not exist'
    )
    assert time.monotonic() - started < 45, "a wrong role was retried as if the server started"
    assert "s3cret-pw" not in result.stdout + result.stderr


async def test_a_failing_migration_is_one_line_naming_the_error(
    tmp_path: Path, postgres_env: dict[str, str], fresh_database: str
) -> None:
    """A database that already holds a table of the same name: the migration's own error, not
    "cannot reach the database"."""
    await execute(fresh_database, "CREATE TABLE users (id integer)")
    result = await asyncio.to_thread(run_app, "migrate", cwd=tmp_path, env=postgres_env)
    assert_fails_in_one_line(
        result, 1, "migration to heads failed", 'relation "users" already exists'
    )


# --- after `app migrate`: works, and again is harmless ---------------------------------------


def test_migrate_then_every_one_shot_command_twice(
    tmp_path: Path, postgres_env: dict[str, str], fresh_database: str
) -> None:
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env), "database migrated to head")
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env), "database migrated to head")

    assert_ok(run_app("create-superuser", cwd=tmp_path, env=postgres_env), "superuser 'root'")
    again = run_app("create-superuser", cwd=tmp_path, env=postgres_env)
    assert_ok(again, "nothing to do")
    assert "root-password-1" not in again.stdout + again.stderr

    if installed("tiers"):
        assert_ok(run_app("create-tier", cwd=tmp_path, env=postgres_env), "tier 'free' created")
        assert_ok(run_app("create-tier", cwd=tmp_path, env=postgres_env), "nothing to do")
        assert_ok(run_app("create-tier", "--name", "gold", cwd=tmp_path, env=postgres_env))
        tiers = rows(fresh_database, "SELECT name FROM tiers ORDER BY id")
        assert tiers == [("free",), ("gold",)]

    users = rows(fresh_database, "SELECT username, email, is_superuser FROM users")
    assert users == [("root", "root@example.com", True)]
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory


def test_embedded_migrate_then_one_shot_commands_twice(
    tmp_path: Path, embedded_env: dict[str, str]
) -> None:
    for _ in range(2):
        assert_ok(run_app("migrate", cwd=tmp_path, env=embedded_env), "migrated to head")
    assert_ok(run_app("create-superuser", cwd=tmp_path, env=embedded_env), "superuser 'root'")
    assert_ok(run_app("create-superuser", cwd=tmp_path, env=embedded_env), "nothing to do")
    database = tmp_path / "app.db"
    url = f"sqlite+aiosqlite:///{database}"
    assert rows(url, "SELECT username, is_superuser FROM users") == [("root", 1)]
    if installed("tiers"):
        assert_ok(run_app("create-tier", cwd=tmp_path, env=embedded_env), "tier 'free' created")
        assert_ok(run_app("create-tier", cwd=tmp_path, env=embedded_env), "nothing to do")
        assert rows(url, "SELECT name FROM tiers") == [("free",)]


def test_serve_after_migrate_answers_and_stops_cleanly(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env))
    port = free_port()
    server = Process("serve", [APP, "serve", "--port", str(port)], cwd=tmp_path, env=postgres_env)
    with server:
        server.wait_for_http(f"http://127.0.0.1:{port}/ready")
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/user",
            json={
                "name": "Ada Lovelace",
                "username": "ada",
                "email": "ada@example.com",
                "password": "analytical1",
            },
        )
        assert created.status_code == 201, created.text
    # A graceful stop: the lifespan closed everything, then the server ended by its signal.
    assert server.process.returncode == -signal.SIGTERM, server.log()
    assert "Application shutdown complete" in server.log()
    assert "Traceback" not in server.log()


def test_serve_under_granian_answers_and_stops_cleanly(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    """WEB_SERVER=granian: two worker processes under Granian, the same app and lifespan."""
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env))
    port = free_port()
    env = {**postgres_env, "WEB_SERVER": "granian", "LOG_LEVEL": "INFO"}
    argv = [APP, "serve", "--port", str(port), "--workers", "2"]
    server = Process("serve", argv, cwd=tmp_path, env=env)
    with server:
        server.wait_for_http(f"http://127.0.0.1:{port}/ready")
        base = f"http://127.0.0.1:{port}/api/v1"
        body = {
            "name": "Grace",
            "username": "grace",
            "email": "g@example.com",
            "password": "cobol1959",
        }
        created = httpx.post(f"{base}/user", json=body)
        assert created.status_code == 201, created.text
        assert created.headers["server"] == "granian"
        # Connections spread over both workers, each with its own lifespan and pool.
        instances = {
            httpx.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}).json()[
                "instance"
            ]
            for _ in range(40)
        }
        assert len(instances) == 2, instances
        assert httpx.get(f"{base}/user/grace").json()["username"] == "grace"
    # SIGTERM: Granian stops its workers gracefully; each lifespan closes its resources.
    assert server.process.returncode == 0, server.log()
    assert server.log().count("shut down: resources closed") == 2, server.log()
    assert "Traceback" not in server.log()


def test_embedded_serve_after_migrate_answers(tmp_path: Path, embedded_env: dict[str, str]) -> None:
    assert_ok(run_app("migrate", cwd=tmp_path, env=embedded_env))
    port = free_port()
    server = Process("serve", [APP, "serve", "--port", str(port)], cwd=tmp_path, env=embedded_env)
    with server:
        server.wait_for_http(f"http://127.0.0.1:{port}/ready")
    assert server.process.returncode == -signal.SIGTERM, server.log()
    assert "embedded backends in use" in server.log()
    assert "Traceback" not in server.log()


async def test_a_worker_process_writes_user_owned_rows(
    tmp_path: Path, postgres_env: dict[str, str], fresh_database: str
) -> None:
    """The purge job deletes posts through the ORM's unit of work, which needs the posts
    table's foreign key to `users` resolved: only a whole model registry allows that in a
    process that has imported nothing else."""
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env))
    engine = create_async_engine(fresh_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (name, username, email, hashed_password, is_superuser,"
                    " is_deleted, created_at) VALUES ('Ada', 'ada', 'ada@example.com', 'x',"
                    " false, false, now())"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO posts (created_by_user_id, title, text, is_deleted, deleted_at,"
                    " created_at) SELECT id, 'Old', 'gone', true, now() - interval '40 days',"
                    " now() FROM users UNION ALL SELECT id, 'Live', 'kept', false, NULL, now()"
                    " FROM users"
                )
            )
    finally:
        await engine.dispose()

    heartbeat = tmp_path.parent / f"{tmp_path.name}-heartbeat"
    env = {**postgres_env, "WORKER_HEARTBEAT_FILE": str(heartbeat)}
    worker = Process("worker", [APP, "worker"], cwd=tmp_path, env=env)
    with worker:
        worker.wait_until(lambda: "Starting worker" in worker.log(), "the worker to start")
        # The heartbeat: touched while the worker polls its queue (the compose healthcheck).
        worker.wait_until(heartbeat.exists, "the first heartbeat", timeout=20)
        first = heartbeat.stat().st_mtime
        worker.wait_until(
            lambda: heartbeat.stat().st_mtime > first, "the next heartbeat", timeout=20
        )
        redis: ArqRedis = await create_pool(
            RedisSettings.from_dsn(TEST_REDIS_URL), default_queue_name=QUEUE_NAME
        )
        try:
            job = await redis.enqueue_job("purge_deleted_posts")
            assert job is not None
            assert await job.result(timeout=30) == 1, worker.log()
        finally:
            await redis.aclose()
    assert "Traceback" not in worker.log(), worker.log()
    assert not heartbeat.exists(), "a stopped worker left its heartbeat behind"
    assert await _rows(fresh_database, "SELECT title FROM posts") == [("Live",)]


# --- bad values: a clear message, exit 2 -----------------------------------------------------


def test_bad_values_are_refused_in_one_line(tmp_path: Path, postgres_env: dict[str, str]) -> None:
    assert_ok(run_app("migrate", cwd=tmp_path, env=postgres_env))
    cases = [
        (
            ["create-superuser", "--username", "Bad Name", "--password", "short"],
            ["invalid superuser", "username", "password"],
        ),
        (["migrate", "not-a-revision"], ["cannot migrate to not-a-revision"]),
        (["serve", "--workers", "0"], ["--workers must be at least 1"]),
    ]
    if installed("tiers"):
        cases.append((["create-tier", "--name", "no spaces please"], ["invalid tier name"]))
    for command, needles in cases:
        assert_fails_in_one_line(run_app(*command, cwd=tmp_path, env=postgres_env), 2, *needles)
    short = run_app("create-superuser", "--password", "short", cwd=tmp_path, env=postgres_env)
    assert "short" not in short.stderr.replace("should have at least", "")


@pytest.mark.parametrize(
    ("command", "settings", "needle"),
    [
        ("serve", {"ENVIRONMENT": "production"}, "SECRET_KEY is missing"),
        ("create-superuser", {"ENVIRONMENT": "production"}, "SECRET_KEY is missing"),
        ("worker", {"WORKER_MAX_TRIES": "0"}, "WORKER_MAX_TRIES"),
        pytest.param(
            "create-tier",
            {"WORKER_MAX_TRIES": "0"},
            "WORKER_MAX_TRIES",
            marks=needs("tiers"),
            id="create-tier",
        ),
        ("migrate", {"DATABASE_POOL_SIZE": "lots"}, "DATABASE_POOL_SIZE"),
    ],
)
def test_bad_settings_are_refused_in_one_line(
    command: str, settings: dict[str, str], needle: str, tmp_path: Path
) -> None:
    env = clean_env(REDIS_URL=TEST_REDIS_URL, **settings)
    result = run_app(command, cwd=tmp_path, env=env)
    assert_fails_in_one_line(result, 2, "invalid configuration", needle)


def test_embedded_worker_says_it_needs_redis(tmp_path: Path, embedded_env: dict[str, str]) -> None:
    assert_ok(run_app("migrate", cwd=tmp_path, env=embedded_env))
    result = run_app("worker", cwd=tmp_path, env=embedded_env)
    assert_fails_in_one_line(result, 2, "the worker needs Redis")


def test_embedded_serve_refuses_several_processes(
    tmp_path: Path, embedded_env: dict[str, str]
) -> None:
    result = run_app("serve", "--workers", "2", cwd=tmp_path, env=embedded_env)
    assert_fails_in_one_line(result, 2, "allow one process")


# --- alembic ---------------------------------------------------------------------------------


def test_alembic_runs_from_any_directory(
    tmp_path: Path, postgres_env: dict[str, str], fresh_database: str
) -> None:
    alembic = [ALEMBIC, "-c", str(ROOT / "alembic.ini")]
    before = run([*alembic, "current"], cwd=tmp_path, env=postgres_env)
    assert before.returncode == 0, before.stdout + before.stderr
    assert re.search(r"\b[0-9a-f]{12}\b", before.stdout) is None  # no revision yet
    # Every installed domain's branch (env.py finds their folders): one head each.
    for _ in range(2):
        upgraded = run([*alembic, "upgrade", "heads"], cwd=tmp_path, env=postgres_env)
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        assert "Traceback" not in upgraded.stderr
    current = run([*alembic, "current"], cwd=tmp_path, env=postgres_env)
    assert current.stdout.count("(head)") > 1, current.stdout + current.stderr
    # The models and the migrations agree, with every domain's models registered.
    checked = run([*alembic, "check"], cwd=tmp_path, env=postgres_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = run([*alembic, "upgrade", "not-a-revision"], cwd=tmp_path, env=postgres_env)
    assert bad.returncode != 0
    assert "not-a-revision" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    # What `alembic` migrated, the app serves: its own check agrees.
    assert_ok(run_app("create-superuser", cwd=tmp_path, env=postgres_env), "created")
    assert rows(fresh_database, "SELECT username FROM users") == [("root",)]
