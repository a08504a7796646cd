"""The response cache from the outside: waiting out its write fence, and Redis clients (the
run's database, or a server of a test's own, which it may stop and start again)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
from redis.asyncio import Redis

from app.core.state import resources_of
from app.platform.cache.backends import FENCE_PREFIX, RedisCache
from tests.helpers.http import AppClient
from tests.helpers.processes import free_port
from tests.helpers.settings import CACHE_WRITE_FENCE_SECONDS, TEST_REDIS_URL


async def wait_out_fence(client: httpx.AsyncClient | None = None) -> None:
    """Until the write fences of the writes made so far have lapsed, so that the next reads
    are stored in the cache again. `client`: a client of the app whose cache it is (an app on
    a Redis of a test's own, or on the embedded cache); by default, the run's Redis. On Redis,
    until it holds no fence (they expire to the millisecond); on the embedded cache, whose
    fences only its own process sees, for as long as a fence lasts."""
    if isinstance(client, AppClient):
        cache = resources_of(client.app).cache
        if isinstance(cache, RedisCache):
            await _until_no_fence(cache.client)
        else:
            await asyncio.sleep(CACHE_WRITE_FENCE_SECONDS + 0.05)
        return
    async with redis_client() as redis:
        await _until_no_fence(redis)


async def _until_no_fence(redis: Redis) -> None:
    deadline = time.monotonic() + CACHE_WRITE_FENCE_SECONDS + 5
    while [key async for key in redis.scan_iter(match=FENCE_PREFIX + "*", count=1000)]:
        assert time.monotonic() < deadline, "a write fence outlived its time"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def redis_client(url: str = TEST_REDIS_URL) -> AsyncIterator[Redis]:
    client = Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


async def flush_redis(url: str = TEST_REDIS_URL) -> None:
    async with redis_client(url) as client:
        await client.flushdb()


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A throwaway redis-server of the test's own (the shared 6379 server is never touched):
    its port and its process, for the test to stop or pause."""
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is needed for this test"
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


class RedisServer:
    """A redis-server of the test's own on a free port (the shared 6379 server is never
    touched), that the test stops and starts again on the same port. With `data_dir` it keeps
    its data in an append-only file there, as docker-compose.yml runs Redis, so a restart
    keeps what it held; without, a restart starts empty.

        with RedisServer(data_dir=tmp_path / "redis") as redis:
            ...  # redis.url
            redis.stop()  # SIGTERM, as `docker compose stop redis` sends
            redis.start()
    """

    def __init__(self, *, data_dir: Path | None = None, password: str | None = None) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is needed for this test"
        self.port = free_port()
        self.argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.argv += ["--daemonize", "no"]
        if data_dir is None:
            self.argv += ["--appendonly", "no"]
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.argv += ["--appendonly", "yes", "--dir", str(data_dir)]
        if password is not None:
            self.argv += ["--requirepass", password]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        """True once the server answers a command (a server still loading its data answers
        -LOADING, and one that wants a password -NOAUTH: that is an answer)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        return bool(reply) and not reply.startswith(b"-LOADING")

    def start(self, timeout: float = 10) -> None:
        """Start the server; return once it answers."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {' '.join(self.argv)}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server with `sig` (SIGTERM: it saves its append-only file and exits;
        SIGKILL: a crash) and wait until it has exited."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(signal.SIGKILL)
