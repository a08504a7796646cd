"""`make services` as README gives it: PostgreSQL and Redis from docker-compose.yml on loopback
ports, started only when nothing answers there yet, and reachable the way README tells the
tests to reach them. On a compose project and ports of the test's own, removed with their
volumes afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.helpers.database import query
from tests.helpers.deploy import require_docker_engine
from tests.helpers.processes import free_port

# One worker runs every Docker test, one after the other: the stack's network has a fixed
# range (docker-compose.yml), and the range Docker picks for this project's may overlap it.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]
require_docker_engine("the services test")

ROOT = Path(__file__).resolve().parents[2]


def make(target: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("SERVICES_")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def services() -> Iterator[dict[str, str]]:
    variables = {
        "SERVICES_PROJECT": f"services-test-{uuid.uuid4().hex[:8]}",
        "SERVICES_POSTGRES_PORT": str(free_port()),
        "SERVICES_REDIS_PORT": str(free_port()),
    }
    try:
        yield variables
    finally:
        down = make("services-down", {**variables, "ARGS": "-v"})
        assert down.returncode == 0, down.stdout + down.stderr


async def _redis_answers(port: str) -> bool:
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/1")
    try:
        return bool(await redis.ping())
    finally:
        await redis.aclose()


def test_make_services_starts_postgres_and_redis_once(services: dict[str, str]) -> None:
    started = make("services", services)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"project {services['SERVICES_PROJECT']}" in started.stdout, started.stdout

    # The URLs README gives for TEST_DATABASE_URL and TEST_REDIS_URL.
    port = services["SERVICES_POSTGRES_PORT"]
    database = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    rows = asyncio.run(query(database, "SELECT current_setting('server_version_num')::int"))
    assert rows[0][0] >= 150000
    assert asyncio.run(_redis_answers(services["SERVICES_REDIS_PORT"]))

    again = make("services", services)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PostgreSQL already answers" in again.stdout, again.stdout
    assert "Redis already answers" in again.stdout, again.stdout
    assert "Starting" not in again.stdout, again.stdout
