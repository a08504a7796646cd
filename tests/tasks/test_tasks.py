"""Jobs over HTTP with the real Redis and real `app worker` processes: end to end, exactly once
with two workers, at least once when a worker is killed, handed back on SIGTERM, sent only
after commit, visible only to whoever enqueued them; and the embedded in-process runner."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import text

from app.core.config import ConfigError, Settings, load_settings
from app.core.db import DbDep, utcnow
from app.core.errors import Conflict
from app.core.state import Resources, resources_of
from app.domains import feature_settings
from app.platform.queue import (
    CRON_OWNER,
    CronJob,
    JobContext,
    QueueDep,
    enqueue_after_commit,
    transient,
)
from app.platform.queue.arq_backend import QUEUE_NAME
from app.platform.queue.local import LocalQueue
from app.tasks.settings import TaskSettings
from tests.helpers.database import engine_for, execute, query
from tests.helpers.http import AppClientFactory, Headers, error_detail, sign_up, user_body
from tests.helpers.postgres import private_postgres
from tests.helpers.processes import APP, Process
from tests.helpers.settings import (
    TEST_REDIS_URL,
    UNREACHABLE_DATABASE_URL,
    app_env,
    unreachable_redis_url,
)

TASK = "/api/v1/tasks/task"


def start_worker(database_url: str, workdir: Path, name: str, **settings: Any) -> Process:
    """`app worker` in a process of its own, started (its log in `workdir`/`name`.log)."""
    env = app_env(
        database_url, **{"LOG_LEVEL": "INFO", "SAMPLE_TASK_SLEEP_SECONDS": 0.2, **settings}
    )
    worker = Process(name, [APP, "worker"], cwd=workdir, env=env)
    try:
        worker.wait_for_log("Starting worker", timeout=20)
    except BaseException:
        worker.stop(signal.SIGKILL, timeout=10)
        raise
    return worker


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(**settings: Any) -> Process:
        worker = start_worker(database_url, tmp_path, f"worker-{len(started)}", **settings)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL, timeout=10)


async def wait_for_status(
    client: httpx.AsyncClient,
    task_id: str,
    wanted: str,
    headers: Headers | None = None,
    within: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"{TASK}/{task_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == wanted:
            return body
        assert time.monotonic() < deadline, f"still {body['status']}, wanted {wanted}"
        await asyncio.sleep(0.05)


async def enqueue(
    client: httpx.AsyncClient, message: str = "hello", headers: Headers | None = None
) -> str:
    response = await client.post(TASK, params={"message": message}, headers=headers)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


@asynccontextmanager
async def queue_redis() -> AsyncIterator[ArqRedis]:
    redis = ArqRedis.from_url(TEST_REDIS_URL)
    try:
        yield redis
    finally:
        await redis.aclose()


def starts(log: str, task_id: str) -> int:
    """How many times a worker log shows the job starting."""
    return log.count(f"→ {task_id}:")


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_task_runs_end_to_end_over_http(
    client: httpx.AsyncClient, workers: Callable[..., Process]
) -> None:
    task_id = await enqueue(client, "from http")
    assert len(task_id) >= 22
    queued = (await client.get(f"{TASK}/{task_id}")).json()
    assert queued["status"] == "queued"
    assert queued["result"] is None

    worker = workers()
    done = await wait_for_status(client, task_id, "complete")
    assert done["success"] is True
    assert done["result"] == f"task {task_id} is complete: from http"
    assert done["function"] == "sample_background_task"
    assert done["tries"] == 1
    assert done["error"] is None
    assert done["enqueued_at"] <= done["started_at"] <= done["finished_at"]
    assert starts(worker.log(), task_id) == 1


async def test_task_input_is_bounded(client: httpx.AsyncClient) -> None:
    # Missing, empty or too long: a validation error; a NUL in the URL: refused before routing.
    bad_messages: list[tuple[dict[str, str], int]] = [
        ({}, 422),
        ({"message": ""}, 422),
        ({"message": "x" * 1001}, 422),
        ({"message": "a\x00b"}, 400),
    ]
    for params, status in bad_messages:
        response = await client.post(TASK, params=params)
        assert response.status_code == status, (params, response.text)
        assert "detail" in response.json()
    assert (await client.post(TASK, params={"message": "x" * 1000})).status_code == 201
    for bad_id in ("x" * 65, "has space", "semi;colon"):
        response = await client.get(f"{TASK}/{bad_id}")
        assert response.status_code == 422, (bad_id, response.text)
    assert (await client.get(f"{TASK}/unknownbutvalid")).json() == {"detail": "Task not found"}


async def test_the_feature_brings_its_paths_its_reserved_word_and_its_setting(
    client: httpx.AsyncClient,
) -> None:
    """What deleting src/app/tasks/ takes away: its paths, the word `tasks` as a username
    the API refuses, and SAMPLE_TASK_SLEEP_SECONDS (read only through the feature)."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {TASK, f"{TASK}/{{task_id}}"} <= set(paths)
    refused = await client.post("/api/v1/user", json=user_body("tasks"))
    message = "This username is reserved: it is a path of the API"
    assert error_detail(refused, 422) == [
        {"loc": ["body", "username"], "msg": message, "type": "value_error"}
    ]

    assert "SAMPLE_TASK_SLEEP_SECONDS" not in Settings.model_fields
    settings = load_settings(_env_file=None, SAMPLE_TASK_SLEEP_SECONDS="0.5")
    assert settings.feature(TaskSettings).SAMPLE_TASK_SLEEP_SECONDS == 0.5
    with pytest.raises(ConfigError, match="SAMPLE_TASK_SLEEP_SECONDS"):
        load_settings(_env_file=None, SAMPLE_TASK_SLEEP_SECONDS="-1").load_features(
            feature_settings()
        )


@pytest.mark.slow
async def test_two_workers_run_each_job_exactly_once(
    client: httpx.AsyncClient, workers: Callable[..., Process]
) -> None:
    first, second = workers(WORKER_MAX_JOBS=3), workers(WORKER_MAX_JOBS=3)
    ids = [await enqueue(client, f"job {n}") for n in range(24)]
    for task_id in ids:
        done = await wait_for_status(client, task_id, "complete")
        assert done["tries"] == 1
    logs = first.log() + second.log()
    assert [starts(logs, task_id) for task_id in ids] == [1] * len(ids)
    # Both took part: the queue is shared, not owned by one worker.
    assert any(starts(first.log(), i) for i in ids)
    assert any(starts(second.log(), i) for i in ids)


@pytest.mark.slow
async def test_a_worker_killed_mid_job_does_not_lose_it(
    client: httpx.AsyncClient, workers: Callable[..., Process]
) -> None:
    # The claim of a dead worker lasts the job timeout plus 10 s; keep both short.
    settings = {"WORKER_JOB_TIMEOUT_SECONDS": 3, "SAMPLE_TASK_SLEEP_SECONDS": 2}
    doomed = workers(**settings)
    task_id = await enqueue(client, "survives")
    await wait_for_status(client, task_id, "in_progress")
    assert doomed.stop(signal.SIGKILL) == -signal.SIGKILL

    assert (await client.get(f"{TASK}/{task_id}")).json()["status"] != "complete"
    restarted = workers(**settings)
    done = await wait_for_status(client, task_id, "complete", within=40)
    assert done["success"] is True
    assert done["result"].endswith("survives")
    assert done["tries"] == 2
    assert starts(restarted.log(), task_id) == 1


@pytest.mark.slow
async def test_sigterm_lets_the_running_job_finish(
    client: httpx.AsyncClient, workers: Callable[..., Process]
) -> None:
    worker = workers(SAMPLE_TASK_SLEEP_SECONDS=1.5, WORKER_SHUTDOWN_GRACE_SECONDS=20)
    task_id = await enqueue(client, "finish me")
    await wait_for_status(client, task_id, "in_progress")
    assert worker.stop(signal.SIGTERM) == 0
    done = (await client.get(f"{TASK}/{task_id}")).json()
    assert done["status"] == "complete"
    assert done["success"] is True
    assert done["tries"] == 1


@pytest.mark.slow
async def test_sigterm_hands_a_long_job_back_to_the_queue(
    client: httpx.AsyncClient, workers: Callable[..., Process]
) -> None:
    settings = {"SAMPLE_TASK_SLEEP_SECONDS": 3, "WORKER_SHUTDOWN_GRACE_SECONDS": 1}
    worker = workers(**settings)
    task_id = await enqueue(client, "hand back")
    await wait_for_status(client, task_id, "in_progress")
    assert worker.stop(signal.SIGTERM) == 0
    assert (await client.get(f"{TASK}/{task_id}")).json()["status"] == "queued"

    workers(**settings)
    done = await wait_for_status(client, task_id, "complete")
    assert done["success"] is True
    assert done["tries"] == 2


# --- after commit ----------------------------------------------------------------------------


def add_enqueueing_routes(app: FastAPI) -> None:
    @app.post("/test/enqueue")
    async def enqueue_and_commit(db: DbDep, queue: QueueDep, fail: bool = False) -> dict[str, str]:
        await db.session.execute(text("SELECT 1"))
        job_id = enqueue_after_commit(
            db, queue, "sample_background_task", "after commit", owner="-"
        )
        if fail:
            raise Conflict("rolled back on purpose")
        return {"id": job_id}


async def test_a_job_is_sent_after_commit_and_not_at_all_on_rollback(
    app_client: AppClientFactory,
) -> None:
    async with app_client() as client:
        add_enqueueing_routes(client.app)
        async with queue_redis() as redis:
            failed = await client.post("/test/enqueue", params={"fail": True})
            assert failed.status_code == 409
            assert await redis.zcard(QUEUE_NAME) == 0
            assert await redis.keys("arq:job:*") == []

            sent = await client.post("/test/enqueue")
            assert sent.status_code == 200
            assert await redis.zcard(QUEUE_NAME) == 1
            assert (await client.get(f"{TASK}/{sent.json()['id']}")).json()["status"] == "queued"


# --- who may see a job -----------------------------------------------------------------------


async def test_a_users_job_is_visible_only_to_that_user(client: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    task_id = await enqueue(client, "private", headers=alice)

    mine = await client.get(f"{TASK}/{task_id}", headers=alice)
    assert mine.status_code == 200
    assert mine.json()["status"] == "queued"
    for headers in (bob, None):
        other = await client.get(f"{TASK}/{task_id}", headers=headers)
        assert other.status_code == 404
        assert other.json() == {"detail": "Task not found"}

    anonymous_job = await enqueue(client, "public")
    for headers in (alice, bob, None):
        assert (await client.get(f"{TASK}/{anonymous_job}", headers=headers)).status_code == 200
    bad = await client.get(f"{TASK}/{task_id}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_an_unreachable_queue_is_a_503(app_client: AppClientFactory) -> None:
    async with app_client(REDIS_URL=unreachable_redis_url(), REDIS_TIMEOUT_SECONDS=0.5) as client:
        created = await client.post(TASK, params={"message": "lost?"})
        assert created.status_code == 503, created.text
        assert created.json()["detail"].startswith("Job queue unavailable")
        read = await client.get(f"{TASK}/whatever")
        assert read.status_code == 503


# --- a job that reads and writes the database ------------------------------------------------


@pytest.mark.slow
async def test_purge_deleted_posts_runs_in_the_worker(
    client: httpx.AsyncClient, database_url: str, workers: Callable[..., Process]
) -> None:
    headers = await sign_up(client, "alice")
    ids = []
    for n in range(3):
        created = await client.post(
            "/api/v1/alice/post", json={"title": f"Post {n}", "text": "x"}, headers=headers
        )
        ids.append(created.json()["id"])
    for post_id in ids[:2]:
        assert (
            await client.delete(f"/api/v1/alice/post/{post_id}", headers=headers)
        ).status_code == 204
    await execute(
        database_url,
        "UPDATE posts SET deleted_at = :old WHERE id = :id",
        old=utcnow() - timedelta(days=31),
        id=ids[0],
    )
    workers()
    async with queue_redis() as redis:
        job = await redis.enqueue_job("purge_deleted_posts")
        assert job is not None
        assert await job.result(timeout=20) == 1
    left = await query(database_url, "SELECT id FROM posts ORDER BY id")
    assert [post_id for (post_id,) in left] == ids[1:]


@pytest.mark.slow
async def test_a_transient_database_error_is_retried_with_backoff(tmp_path: Path) -> None:
    worker = start_worker(UNREACHABLE_DATABASE_URL, tmp_path, "no-db", WORKER_MAX_TRIES=2)
    try:
        async with queue_redis() as redis:
            job = await redis.enqueue_job("purge_deleted_posts")
            assert job is not None
            deadline = time.monotonic() + 30
            while (info := await job.result_info()) is None:
                assert time.monotonic() < deadline, worker.log()
                await asyncio.sleep(0.1)
    finally:
        worker.stop()
    log = worker.log()
    assert info.success is False
    assert f"job {job.job_id} try 1 hit" in log
    assert "retrying in 1 s" in log
    # The last try says that it fails, and it does, with its own error: no retry is asked for
    # that would only end in "max retries exceeded".
    assert f"job {job.job_id} try 2 hit" in log
    assert "that was its last try: it fails" in log
    assert "retrying in 2 s" not in log
    assert isinstance(info.result, Exception)
    assert transient(info.result), repr(info.result)
    assert info.job_try == 2


@pytest.mark.slow
async def test_a_cron_run_that_hits_a_transient_error_says_it_is_not_retried(
    tmp_path: Path,
) -> None:
    """ARQ gives a cron job one try: a retry asked for would end, a minute later, in "max
    retries exceeded". The run ends at once and says when the job runs again."""
    worker = start_worker(UNREACHABLE_DATABASE_URL, tmp_path, "no-db-cron")
    try:
        async with queue_redis() as redis:
            # The cron job by its name, now rather than at the next minute.
            job = await redis.enqueue_job("resend_unsent_mail")
            assert job is not None
            worker.wait_for_log("← resend_unsent_mail")
            assert await redis.zcard(QUEUE_NAME) == 0  # nothing deferred for another try
    finally:
        worker.stop()
    log = worker.log()
    assert "cron job resend_unsent_mail hit" in log
    assert "not retried: it runs again at its next scheduled time" in log
    assert "retrying in" not in log
    assert "max retries" not in log


@pytest.mark.slow
async def test_a_database_shutting_down_is_a_transient_error_too(tmp_path: Path) -> None:
    # A server in a smart shutdown refuses new connections with 57P03, which SQLAlchemy reports
    # as a plain DBAPIError: the job is tried again all the same.
    with private_postgres() as postgres:
        async with engine_for(postgres.url) as engine, engine.connect() as held:
            await held.execute(text("SELECT 1"))  # a session that the shutdown waits for
            postgres.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while postgres.ready():
                assert time.monotonic() < deadline, "the server still takes connections"
                await asyncio.sleep(0.05)
            worker = start_worker(postgres.url, tmp_path, "shutting-down", WORKER_MAX_TRIES=2)
            try:
                async with queue_redis() as redis:
                    job = await redis.enqueue_job("purge_deleted_posts")
                    assert job is not None
                    info = await job.result_info()
                    while info is None:
                        assert time.monotonic() < deadline + 30, worker.log()
                        await asyncio.sleep(0.1)
                        info = await job.result_info()
            finally:
                worker.stop()
    assert info.success is False
    log = worker.log()
    assert "hit DBAPIError; retrying in 1 s" in log
    assert "hit DBAPIError; that was its last try: it fails" in log
    assert isinstance(info.result, Exception)
    assert transient(info.result), repr(info.result)


# --- the embedded runner ---------------------------------------------------------------------


async def test_without_redis_jobs_run_in_process(app_client: AppClientFactory) -> None:
    async with app_client(REDIS_URL=None, SAMPLE_TASK_SLEEP_SECONDS=0.1) as client:
        assert isinstance(resources_of(client.app).queue, LocalQueue)
        alice = await sign_up(client, "alice")
        task_id = await enqueue(client, "in process", headers=alice)
        assert (await client.get(f"{TASK}/{task_id}")).status_code == 404
        done = await wait_for_status(client, task_id, "complete", headers=alice)
        assert done["result"] == f"task {task_id} is complete: in process"
        assert done["tries"] == 1
        assert done["success"] is True


async def test_an_embedded_job_that_fails_reports_its_error_name_only(
    app_client: AppClientFactory,
) -> None:
    async with app_client(REDIS_URL=None) as client:
        queue = resources_of(client.app).queue
        assert isinstance(queue, LocalQueue)
        # A negative age is refused by the job itself: the job fails, the runner carries on.
        await queue.enqueue("purge_deleted_posts", -5, job_id="bad", owner="-")
        await queue.drain()
        view = await queue.view("bad", "-")
    assert view is not None
    assert view.status == "complete"
    assert view.success is False
    assert view.error == "ValueError"
    assert view.result is None


async def test_an_embedded_cron_run_is_not_retried(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    runs = 0

    async def flaky(ctx: JobContext) -> None:
        nonlocal runs
        runs += 1
        raise ConnectionError("the database went away")

    queue = LocalQueue({}, settings, [CronJob(flaky, name="flaky_cron")])
    queue.start(cast(Resources, object()), run_cron=False)  # `flaky` uses none
    try:
        with caplog.at_level(logging.WARNING, logger="app.platform.queue"):
            await queue.enqueue("flaky_cron", job_id="cron-run", owner=CRON_OWNER)
            await queue.drain()
        view = await queue.view("cron-run", CRON_OWNER)
    finally:
        await queue.close()
    assert runs == 1
    assert view is not None
    assert (view.status, view.tries) == ("complete", 1)
    assert "cron job flaky_cron hit ConnectionError; not retried" in caplog.text
