"""The response cache from the outside: waiting out its write fence, and Redis clients (the
run's database, or a throwaway server of a test's own)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

from redis.asyncio import Redis

from tests.helpers.processes import free_port
from tests.helpers.settings import CACHE_WRITE_FENCE_SECONDS, TEST_REDIS_URL

# A little more than the fence the test settings give each write.
FENCE_WAIT = CACHE_WRITE_FENCE_SECONDS + 0.1


async def wait_out_fence() -> None:
    """Until the write fences of the writes made so far have lapsed, so that the next reads
    are stored in the cache again."""
    await asyncio.sleep(FENCE_WAIT)


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
