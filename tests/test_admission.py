"""Admission: a process runs at most MAX_IN_FLIGHT_REQUESTS requests at once; the others wait
in arrival order, and one that cannot start within QUEUE_TIMEOUT_SECONDS is answered 503 with
Retry-After, quickly, instead of timing out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx

from tests.helpers.http import API, AppClientFactory, user_body


def hold_a_slot(
    client: httpx.AsyncClient, username: str, gate: asyncio.Event
) -> asyncio.Task[httpx.Response]:
    """A registration whose body's second half is sent once `gate` is set: the request holds
    its slot until then."""
    body = json.dumps(user_body(username)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        await gate.wait()
        yield body[10:]

    return asyncio.create_task(
        client.post(f"{API}/user", content=chunks(), headers={"Content-Type": "application/json"})
    )


async def test_a_request_that_cannot_start_in_time_gets_503_with_retry_after(
    app_client: AppClientFactory,
) -> None:
    async with app_client(MAX_IN_FLIGHT_REQUESTS=1, QUEUE_TIMEOUT_SECONDS=0.3) as client:
        gate = asyncio.Event()
        holder = hold_a_slot(client, "slowpoke", gate)
        await asyncio.sleep(0.2)  # the registration has started and waits for its body

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

        gate.set()
        assert (await holder).status_code == 201
        assert (await client.get(f"{API}/users")).status_code == 200


async def test_waiting_requests_are_served_in_arrival_order(
    app_client: AppClientFactory,
) -> None:
    async with app_client(MAX_IN_FLIGHT_REQUESTS=1, QUEUE_TIMEOUT_SECONDS=10) as client:
        gate = asyncio.Event()
        holder = hold_a_slot(client, "first", gate)
        await asyncio.sleep(0.2)
        finished: list[str] = []

        async def fetch(name: str) -> httpx.Response:
            response = await client.get(f"{API}/user/first", headers={"X-Request-ID": name})
            finished.append(name)
            return response

        waiting = []
        for name in ("second", "third", "fourth"):
            waiting.append(asyncio.create_task(fetch(name)))
            await asyncio.sleep(0.05)  # each in the queue before the next arrives
        assert not finished  # all wait while the first holds the only slot
        gate.set()
        assert (await holder).status_code == 201
        responses = await asyncio.gather(*waiting)
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert finished == ["second", "third", "fourth"]
