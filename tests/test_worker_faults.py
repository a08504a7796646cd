"""`app worker` and its Redis, with no job involved: started before its Redis, SIGTERM stops it
at once while it waits; refused by Redis (a wrong password), it ends in one line. Each test runs
a redis-server of its own (never the shared one). What becomes of jobs when Redis goes and
comes back is tested with the sample job, among the tasks feature's tests.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.cache import RedisServer
from tests.helpers.processes import APP
from tests.helpers.worker import WAITING, running, worker_env

pytestmark = pytest.mark.slow


def test_sigterm_stops_a_worker_waiting_for_redis(tmp_path: Path, database_url: str) -> None:
    redis = RedisServer()  # never started
    env = worker_env(database_url, redis.url, tmp_path / "heartbeat")
    with running("worker", [APP, "worker"], tmp_path, env) as worker:
        worker.wait_for_log(WAITING)
        stopping = time.monotonic()
        assert worker.stop(signal.SIGTERM, timeout=10) == 0, worker.log()
        assert time.monotonic() - stopping < 3, worker.log()
    assert "Traceback" not in worker.log(), worker.log()


def test_a_redis_that_refuses_the_worker_ends_it_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    """Waiting does not cure a wrong password: the worker says so and exits 2."""
    with RedisServer(password="the-right-one") as redis:
        url = redis.url.replace("redis://", "redis://:a-wrong-one@")
        env = worker_env(database_url, url, tmp_path / "heartbeat")
        result = subprocess.run(
            [APP, "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "refuses the worker: AuthenticationError" in errors[0], result.stderr
    assert "a-wrong-one" not in result.stderr
