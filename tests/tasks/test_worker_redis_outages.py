"""`app worker` when its Redis goes away, with the sample job enqueued over HTTP: it keeps
running, says so in one line, is unhealthy for the compose healthcheck until Redis is back,
then runs the jobs queued before and after; started before its Redis, it waits for it, then
runs what was queued; a job accepted before Redis crashes is not lost. Each test runs a
redis-server of its own (never the shared one), stopped and started as an outage would, with
the installed `app serve` and `app worker` as processes against it.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.cache import RedisServer
from tests.helpers.processes import APP, DroppingPort, Process, free_port
from tests.helpers.settings import app_env
from tests.helpers.worker import (
    BACK,
    LOST,
    WAITING,
    compose_healthcheck,
    healthy,
    running,
    worker_env,
)

pytestmark = pytest.mark.slow

TASK = "/api/v1/tasks/task"
# The sample job sleeps this long unless a test says otherwise.
SLEEP = {"SAMPLE_TASK_SLEEP_SECONDS": 0.1}


@contextlib.contextmanager
def api(database_url: str, redis_url: str, workdir: Path) -> Iterator[httpx.Client]:
    """`app serve` on `redis_url`, and a client of it (once it answers)."""
    port = free_port()
    env = app_env(database_url, REDIS_URL=redis_url, DEFAULT_RATE_LIMIT_LIMIT=1000)
    argv = [APP, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with running("serve", argv, workdir, env) as server:
        url = f"http://127.0.0.1:{port}"
        server.wait_for_http(f"{url}/health")
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def enqueue(client: httpx.Client, message: str) -> str:
    response = client.post(TASK, params={"message": message})
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def wait_for_status(
    client: httpx.Client, task_id: str, wanted: str, worker: Process, within: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = client.get(f"{TASK}/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == wanted:
            return body
        assert time.monotonic() < deadline, f"{task_id} still {body['status']}:\n{worker.log()}"
        time.sleep(0.05)


def test_the_worker_rides_out_a_redis_restart(tmp_path: Path, database_url: str) -> None:
    heartbeat = tmp_path / "heartbeat"
    healthcheck = compose_healthcheck(heartbeat)
    # One job at a time: a job enqueued behind a running one stays queued through the outage.
    settings = {"WORKER_MAX_JOBS": 1, "SAMPLE_TASK_SLEEP_SECONDS": 1}
    with (
        RedisServer(data_dir=tmp_path / "redis") as redis,
        running(
            "worker",
            [APP, "worker"],
            tmp_path,
            worker_env(database_url, redis.url, heartbeat, **settings),
        ) as worker,
        api(database_url, redis.url, tmp_path) as client,
    ):
        worker.wait_until(lambda: healthy(healthcheck), "a healthy heartbeat")
        running_job = enqueue(client, "running")
        wait_for_status(client, running_job, "in_progress", worker)
        queued = enqueue(client, "queued before")

        redis.stop()  # SIGTERM, as `docker compose restart redis` sends
        worker.wait_for_log(LOST)
        assert not healthy(healthcheck)
        # Redis stays down until the running job has ended (its outcome waits for Redis) and
        # the worker has asked for Redis a few times.
        with DroppingPort(redis.port) as dead_redis:
            worker.wait_for_log(f"← {running_job}:")
            worker.wait_until(lambda: dead_redis.connections >= 4, "attempts to reach Redis")
            assert not healthy(healthcheck)
        redis.start()
        back = time.monotonic()
        worker.wait_for_log(BACK, timeout=15)
        resumed = time.monotonic() - back
        worker.wait_until(lambda: healthy(healthcheck), "a fresh heartbeat")
        after = enqueue(client, "enqueued after")

        for task_id, message in [
            (running_job, "running"),
            (queued, "queued before"),
            (after, "enqueued after"),
        ]:
            done = wait_for_status(client, task_id, "complete", worker)
            assert (done["success"], done["tries"]) == (True, 1), done
            assert done["result"].endswith(message)
        log = worker.log()
        assert (log.count(LOST), log.count(BACK)) == (1, 1), log
        assert log.count(f"→ {running_job}:") == 1, "its outcome was kept, not the job run again"
        assert resumed < 7, f"resumed {resumed:.1f} s after Redis was back"

        # SIGTERM while Redis is gone, with the outcome of a job waiting for it: the worker
        # stops at once, cleanly, and the job will run again (its claim expires).
        last = enqueue(client, "last")
        wait_for_status(client, last, "in_progress", worker)
        redis.stop()
        worker.wait_until(lambda: worker.log().count(LOST) == 2, "Redis lost again", 10)
        worker.wait_for_log(f"← {last}:")
        stopping = time.monotonic()
        assert worker.stop(signal.SIGTERM, timeout=10) == 0, worker.log()
        assert time.monotonic() - stopping < 3, worker.log()
    log = worker.log()
    assert (log.count(LOST), log.count(BACK)) == (2, 1), log
    assert f"job {last}: Redis gone when the worker stopped" in log, log
    assert "Traceback" not in log, log
    assert not heartbeat.exists()
    print(f"\nthe worker resumed {resumed:.2f} s after Redis answered again")


def test_a_job_accepted_before_redis_crashes_is_not_lost(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "redis"
    with RedisServer(data_dir=data) as redis, api(database_url, redis.url, tmp_path) as client:
        task_id = enqueue(client, "kept")
        # With appendfsync everysec (Redis's default, and compose's), Redis has written a
        # command to its append-only file before it answers it, unless a slow disk holds the
        # write back (for up to 2 s): wait for it, as a crash one moment later could lose it.
        aof = data / "appendonlydir"
        deadline = time.monotonic() + 5
        while not any(task_id.encode() in path.read_bytes() for path in aof.glob("*.aof")):
            assert time.monotonic() < deadline, "the job never reached the append-only file"
            time.sleep(0.05)
        redis.stop(signal.SIGKILL)  # a crash: no shutdown, no last save
        redis.start()
        assert client.get(f"{TASK}/{task_id}").json()["status"] == "queued"

        heartbeat = tmp_path / "heartbeat"
        env = worker_env(database_url, redis.url, heartbeat, **SLEEP)
        with running("worker", [APP, "worker"], tmp_path, env) as worker:
            done = wait_for_status(client, task_id, "complete", worker)
    assert (done["success"], done["tries"]) == (True, 1)
    assert done["result"].endswith("kept")


def test_a_worker_started_before_its_redis_waits_for_it(tmp_path: Path, database_url: str) -> None:
    heartbeat = tmp_path / "heartbeat"
    redis = RedisServer(data_dir=tmp_path / "redis")  # not started: its port refuses
    env = worker_env(database_url, redis.url, heartbeat, **SLEEP)
    with running("worker", [APP, "worker"], tmp_path, env) as worker:
        worker.wait_for_log(WAITING)
        # The API starts meanwhile: a few seconds, several attempts of the worker's.
        with api(database_url, redis.url, tmp_path) as client:
            assert worker.alive(), worker.log()
            assert not heartbeat.exists()
            with redis:
                worker.wait_for_log("Starting worker")
                done = wait_for_status(client, enqueue(client, "late redis"), "complete", worker)
                assert (done["success"], done["tries"]) == (True, 1)
                worker.wait_until(lambda: healthy(compose_healthcheck(heartbeat)), "a heartbeat")
    log = worker.log()
    assert log.count(WAITING) == 1, log
    assert log.count("answers after") == 1, log
    assert "Traceback" not in log, log
