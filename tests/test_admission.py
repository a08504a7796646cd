"""Admission: a process runs at most MAX_IN_FLIGHT_REQUESTS requests at once; the others wait
in arrival order, and one that cannot start within QUEUE_TIMEOUT_SECONDS is answered 503 with
Retry-After, quickly, instead of timing out. A request's body is read before it is admitted,
so a slow sender holds no slot (tests/test_slow_clients.py attacks a served app with them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from app.core.state import resources_of
from app.platform.http.middleware import EdgeConfig, EdgeMiddleware
from tests.helpers.http import API, AppClient, AppClientFactory, register, user_body


@contextlib.asynccontextmanager
async def slot_held(client: AppClient) -> AsyncIterator[asyncio.Task[httpx.Response]]:
    """A request that holds its slot until the block ends: it waits for the database pool's
    only connection (DATABASE_POOL_SIZE=1), which the block holds."""
    engine = resources_of(client.app).engine
    async with engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")
        holder = asyncio.create_task(client.get(f"{API}/users"))
        await asyncio.sleep(0.2)  # the request has its slot and waits for the connection
        assert not holder.done()
        yield holder


def body_in_two_parts(
    client: httpx.AsyncClient, username: str, gate: asyncio.Event
) -> asyncio.Task[httpx.Response]:
    """A registration whose body's second half is sent once `gate` is set."""
    body = json.dumps(user_body(username)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        await gate.wait()
        yield body[10:]

    return asyncio.create_task(
        client.post(f"{API}/user", content=chunks(), headers={"Content-Type": "application/json"})
    )


ONE_CONNECTION = {"DATABASE_POOL_SIZE": 1, "DATABASE_MAX_OVERFLOW": 0, "DATABASE_POOL_TIMEOUT": 30}


async def test_a_request_that_cannot_start_in_time_gets_503_with_retry_after(
    app_client: AppClientFactory,
) -> None:
    settings = {"MAX_IN_FLIGHT_REQUESTS": 1, "QUEUE_TIMEOUT_SECONDS": 0.3, **ONE_CONNECTION}
    async with app_client(**settings) as client:
        async with slot_held(client) as holder:
            started = time.monotonic()
            refused = await client.get(f"{API}/users")
            waited = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert refused.json() == {"detail": "The server is busy; retry shortly"}
            assert refused.headers["Cache-Control"] == "no-store"
            assert "X-Request-ID" in refused.headers
            assert 0.25 <= waited < 2, waited

            # Liveness checks never wait behind the API's requests.
            assert (await client.get("/health")).status_code == 200

        assert (await holder).status_code == 200
        assert (await client.get(f"{API}/users")).status_code == 200


async def test_waiting_requests_are_served_in_arrival_order(
    app_client: AppClientFactory,
) -> None:
    settings = {"MAX_IN_FLIGHT_REQUESTS": 1, "QUEUE_TIMEOUT_SECONDS": 10, **ONE_CONNECTION}
    async with app_client(**settings) as client:
        await register(client, "first")
        finished: list[str] = []

        async def fetch(name: str) -> httpx.Response:
            response = await client.get(f"{API}/user/first", headers={"X-Request-ID": name})
            finished.append(name)
            return response

        async with slot_held(client) as holder:
            waiting = []
            for name in ("second", "third", "fourth"):
                waiting.append(asyncio.create_task(fetch(name)))
                await asyncio.sleep(0.05)  # each in the queue before the next arrives
            assert not finished  # all wait while the first holds the only slot
        assert (await holder).status_code == 200
        responses = await asyncio.gather(*waiting)
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert finished == ["second", "third", "fourth"]


async def test_a_body_still_arriving_holds_no_slot(app_client: AppClientFactory) -> None:
    async with app_client(MAX_IN_FLIGHT_REQUESTS=1, QUEUE_TIMEOUT_SECONDS=0.3) as client:
        gate = asyncio.Event()
        registration = body_in_two_parts(client, "slowpoke", gate)
        await asyncio.sleep(0.2)  # its head has arrived, half of its body too
        assert not registration.done()
        # The only slot is free: the registration is still reading its body.
        assert (await client.get(f"{API}/users")).status_code == 200
        gate.set()
        assert (await registration).status_code == 201


async def test_bodies_read_ahead_of_admission_are_bounded_in_memory(
    app_client: AppClientFactory,
) -> None:
    # What they may hold together: MAX_IN_FLIGHT_REQUESTS x MAX_REQUEST_BODY_BYTES = 2 KiB.
    limits = {"MAX_IN_FLIGHT_REQUESTS": 2, "MAX_REQUEST_BODY_BYTES": 1024}
    async with app_client(**limits) as client:
        gate = asyncio.Event()

        async def large_then_more() -> AsyncIterator[bytes]:
            yield b"x" * 1000
            await gate.wait()
            yield b"x"

        senders = [
            asyncio.create_task(client.post(f"{API}/user", content=large_then_more()))
            for _ in range(2)
        ]
        await asyncio.sleep(0.2)  # 2,000 bytes held
        refused = await client.post(f"{API}/user", json=user_body("third"))
        assert refused.status_code == 503, refused.text
        assert refused.json() == {"detail": "The server is busy; retry shortly"}
        assert refused.headers["Retry-After"] == "1"
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*senders)] == [422, 422]
        # Taken off again when the requests ended.
        assert (await client.post(f"{API}/user", json=user_body("third"))).status_code == 201


async def test_a_request_cancelled_while_its_body_arrives_stays_cancelled() -> None:
    """A server that stops cancels the requests it runs: one that is reading its body is not
    answered as if its deadline had passed, and the deadlines of the others still hold."""
    sent: list[Message] = []

    async def never_called(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the body never arrived")

    async def no_body_yet() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    edge = EdgeMiddleware(
        never_called, EdgeConfig(max_body_bytes=1024, client_max_age=0, body_timeout=0.3)
    )
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"{API}/user",
        "query_string": b"",
        "headers": [(b"content-length", b"10")],
        "client": ("127.0.0.1", 1),
    }
    stopped = asyncio.create_task(edge(dict(scope), no_body_yet, send))
    late = asyncio.create_task(edge(dict(scope), no_body_yet, send))
    await asyncio.sleep(0.1)
    stopped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopped
    assert sent == []
    await asyncio.wait_for(late, 2)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [408]
