"""The worker of `app worker` (app/worker.py) in this process, on a redis-server of the test's
own that it stops and starts: started before its Redis it waits, then runs what was queued;
Redis lost, it removes its heartbeat and takes no jobs; Redis back, it takes them again. Jobs go
in and are read back over HTTP. (test_worker_redis_outages.py runs the same story with the
installed `app worker` as a process.)"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.worker import create_worker
from tests.helpers.cache import RedisServer
from tests.helpers.http import AppClientFactory, Headers, sign_up
from tests.helpers.settings import make_settings

TASK = "/api/v1/tasks/task"


async def until(ready: Callable[[], bool], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def enqueue(client: httpx.AsyncClient, headers: Headers) -> str:
    response = await client.post(TASK, params={"message": "hello"}, headers=headers)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


async def status(client: httpx.AsyncClient, task_id: str, headers: Headers) -> Any:
    response = await client.get(f"{TASK}/{task_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["status"]


async def complete(client: httpx.AsyncClient, task_id: str, headers: Headers) -> None:
    deadline = time.monotonic() + 20
    while (found := await status(client, task_id, headers)) != "complete":
        assert time.monotonic() < deadline, f"task {task_id} still {found}"
        await asyncio.sleep(0.05)


async def test_the_worker_waits_for_redis_and_rides_out_its_restart(
    app_client: AppClientFactory,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="app.worker")
    heartbeat = tmp_path / "heartbeat"

    def logged(text: str) -> int:
        return sum(text in record.getMessage() for record in caplog.records)

    with RedisServer(data_dir=tmp_path / "redis") as redis:
        settings = make_settings(
            database_url,
            REDIS_URL=redis.url,
            WORKER_HEARTBEAT_FILE=heartbeat,
            SAMPLE_TASK_SLEEP_SECONDS=0,
        )
        async with app_client(REDIS_URL=redis.url) as client:
            headers = await sign_up(client, "alice")
            queued = await enqueue(client, headers)  # before any worker runs
            await asyncio.to_thread(redis.stop)

            loop = asyncio.get_running_loop()
            worker = create_worker(settings)
            run = asyncio.create_task(worker.async_run())
            try:
                await until(lambda: logged("does not answer") == 1, "the worker to wait")
                assert not run.done()
                await asyncio.to_thread(redis.start)
                await until(lambda: logged("answers after") == 1, "the worker to start")
                await complete(client, queued, headers)  # kept by Redis's append-only file
                await until(heartbeat.exists, "a heartbeat")

                await asyncio.to_thread(redis.stop)
                await until(lambda: logged("Redis lost at") == 1, "the loss to be noticed")
                assert not heartbeat.exists()  # unhealthy while Redis is gone
                assert not run.done()
                await asyncio.to_thread(redis.start)
                await until(lambda: logged("Redis back at") == 1, "the worker to resume")
                after = await enqueue(client, headers)
                await complete(client, after, headers)
                await until(heartbeat.exists, "a heartbeat again")
                # One line each way, never one per attempt.
                assert logged("Redis lost at") == logged("Redis back at") == 1
            finally:
                worker.handle_sig(signal.SIGTERM)
                await asyncio.gather(run, return_exceptions=True)
                await worker.close()
                worker.forget_heartbeat()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
    assert not heartbeat.exists()
