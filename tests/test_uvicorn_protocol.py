"""uvicorn's HTTP protocol as `app serve` runs it (platform/http/uvicorn_protocol.py): each
request's head bounded in time and size. A real uvicorn server in this process, spoken to over
raw sockets, so that every limit is seen as a client sees it (tests/test_slow_clients.py runs
the same against the installed `app serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import Receive, Scope, Send

from app.platform.http.uvicorn_protocol import BoundedHttpToolsProtocol, HeadLimits
from tests.helpers.processes import free_port

LIMITS = HeadLimits(timeout=0.5, max_headers=8, max_bytes=2048)
HEAD = b"GET /hello HTTP/1.1\r\nHost: test\r\n"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    body = json.dumps({"path": scope["path"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving(limits: HeadLimits = LIMITS) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        hello,
        host="127.0.0.1",
        port=port,
        http=functools.partial(BoundedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        lifespan="off",
        log_level="critical",
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one response (read by its content-length), within 5 s."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")
    )
    return status, await asyncio.wait_for(reader.readexactly(length), 5)


async def assert_closed(reader: asyncio.StreamReader) -> None:
    """The server closes the connection within 5 s (a TimeoutError otherwise); what it sent
    before is read and dropped."""
    async with asyncio.timeout(5):
        with contextlib.suppress(ConnectionResetError):
            while await reader.read(65536):
                pass


async def test_requests_within_the_limits_are_served_on_one_connection() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):
            writer.write(HEAD + b"X-One: 1\r\n\r\n")
            status, body = await answer(reader)
            assert (status, json.loads(body)) == (200, {"path": "/hello"})
        writer.close()


async def test_a_head_sent_too_slowly_is_408_and_closed() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(HEAD)  # and never the end of the head
        status, body = await answer(reader)
        elapsed = time.monotonic() - started
        assert status == 408
        assert json.loads(body) == {"detail": "Request headers not received in time"}
        assert LIMITS.timeout - 0.05 <= elapsed < LIMITS.timeout + 2
        await assert_closed(reader)


async def test_a_later_head_on_a_kept_connection_has_its_own_deadline() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD + b"\r\n")
        assert (await answer(reader))[0] == 200
        # Idle for longer than the head's deadline: that is the keep-alive's time, not the
        # head's; the deadline starts with the next request's first byte.
        await asyncio.sleep(LIMITS.timeout * 1.5)
        writer.write(b"GET /again HTTP/1.1\r\n")
        assert (await answer(reader))[0] == 408
        await assert_closed(reader)


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    async with serving() as port:
        reader, _ = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        assert await reader.read(65536) == b""
        assert time.monotonic() - started < LIMITS.timeout + 2


async def test_too_many_headers_are_431() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        extra = b"".join(b"X-H%d: v\r\n" % n for n in range(LIMITS.max_headers + 1))
        writer.write(HEAD + extra + b"\r\n")
        status, body = await answer(reader)
        assert (status, json.loads(body)) == (431, {"detail": "Too many request headers"})
        await assert_closed(reader)


async def test_headers_too_large_are_431_and_a_url_too_long_414() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD + b"X-Big: " + b"v" * LIMITS.max_bytes + b"\r\n\r\n")
        status, body = await answer(reader)
        assert (status, json.loads(body)) == (431, {"detail": "Request headers too large"})

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * LIMITS.max_bytes + b" HTTP/1.1\r\nHost: test\r\n\r\n")
        status, body = await answer(reader)
        assert (status, json.loads(body)) == (414, {"detail": "Request URL too long"})


async def test_a_head_that_never_ends_is_refused_as_it_grows() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD + b"X-Endless: ")
        # One header value that keeps coming: refused once the bytes pass the bound, long
        # before the deadline.
        started = time.monotonic()
        for _ in range(LIMITS.max_bytes // 256 + 2):
            writer.write(b"v" * 256)
        status, body = await answer(reader)
        assert (status, json.loads(body)) == (431, {"detail": "Request headers too large"})
        assert time.monotonic() - started < LIMITS.timeout


async def test_a_malformed_request_is_still_uvicorns_400() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 400")
