"""Slow and oversized clients, against `app serve` exposed directly (no proxy in front), under
each HTTP server: a body that trickles in holds no admission slot and is cut at its deadline,
a head that trickles in is cut at its own, and heads with too many or too large headers are
refused. Raw sockets play the clients, since an HTTP client library would not misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers.processes import APP, Process, free_port
from tests.helpers.settings import app_env

# One worker runs the whole module: its tests share what a module fixture starts.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slow-clients")]

SLOTS = 4
# Long enough that 140 connections open and are reading their bodies well before the first is
# cut, even on a loaded machine.
BODY_TIMEOUT = 6.0
HEADERS_TIMEOUT = 2.0
# How late past its deadline a cut may come on a busy machine.
MARGIN = 3.0
# A path that waits for admission (/health does not).
QUEUED = "/api/v1/users"


@dataclass
class Served:
    server: str
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def served(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    server: str = request.param
    port = free_port()
    env = app_env(
        database_url,
        MAX_IN_FLIGHT_REQUESTS=SLOTS,
        QUEUE_TIMEOUT_SECONDS=1,
        REQUEST_BODY_TIMEOUT_SECONDS=BODY_TIMEOUT,
        REQUEST_HEADERS_TIMEOUT_SECONDS=HEADERS_TIMEOUT,
        DEFAULT_RATE_LIMIT_LIMIT=1_000_000,
    )
    argv = [APP, "serve", "--server", server, "--port", str(port)]
    cwd = tmp_path_factory.mktemp(f"slow-{server}")
    with Process("serve", argv, cwd=cwd, env=env) as process:
        process.wait_for_http(f"http://127.0.0.1:{port}/health")
        yield Served(server, port, process)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it closes the connection (a reset counts as a close)."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


def status_of(answer: bytes) -> int | None:
    """The status of the first response in `answer`; None when the server sent nothing."""
    if not answer:
        return None
    return int(answer.split(b" ", 2)[1])


async def trickle(writer: asyncio.StreamWriter, data: bytes, pace: float) -> None:
    """Send `data` a byte at a time, one every `pace` seconds, until the server hangs up."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            await asyncio.sleep(pace)
            writer.write(bytes([byte]))
            await writer.drain()


@dataclass
class Cut:
    after: float  # seconds from the last complete part the client sent
    status: int | None  # None: closed without an answer


async def slow_body(port: int, opened: asyncio.Event) -> Cut:
    """A registration that declares 1,000 bytes of body and sends 8, then a byte a second.
    `opened` is set once the app reads the body: the request asks for a 100 Continue, which
    both servers send when the app first asks for the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /api/v1/user HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode() + b'{"name":')
    await writer.drain()
    sent = time.monotonic()
    interim = await reader.readuntil(b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    opened.set()
    trickling = asyncio.create_task(trickle(writer, b" " * 992, 1.0))
    try:
        answer = await asyncio.wait_for(read_answer(reader), BODY_TIMEOUT + MARGIN)
    finally:
        trickling.cancel()
        writer.close()
    return Cut(time.monotonic() - sent, status_of(answer))


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response.status_code, time.monotonic() - started


async def test_slow_bodies_hold_no_slot_and_are_cut_at_their_deadline(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        baseline = [await timed_get(client, QUEUED) for _ in range(20)]
        assert {status for status, _ in baseline} == {200}
        base_median = statistics.median(seconds for _, seconds in baseline)

        # 140 senders (35 times the slots) whose bodies never finish.
        senders = 35 * SLOTS
        opened = [asyncio.Event() for _ in range(senders)]
        attacked_from = time.monotonic()
        attack = [asyncio.create_task(slow_body(served.port, event)) for event in opened]
        try:
            # Every one of them is inside the app, reading its body.
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 30)
            # While every one of them is still sending (their deadline is seconds away),
            # requests that need a slot go through at once: before the bodies were read ahead
            # of admission, these waited QUEUE_TIMEOUT_SECONDS for a slot and got a 503.
            during = [await timed_get(client, QUEUED) for _ in range(20)]
            measured_within = time.monotonic() - attacked_from
            attack_median = statistics.median(seconds for _, seconds in during)
            print(
                f"\n{served.server}: GET {QUEUED} median {base_median * 1000:.1f} ms alone, "
                f"{attack_median * 1000:.1f} ms (max {max(s for _, s in during) * 1000:.1f} "
                f"ms) beside {senders} slow bodies, all within {measured_within:.2f} s of "
                "the attack's start"
            )
            assert [status for status, _ in during] == [200] * len(during), during
            assert measured_within < BODY_TIMEOUT, "not measured while the attack lasted"
            assert attack_median <= 10 * base_median, (base_median, during)
            cuts = await asyncio.gather(*attack)
        finally:
            for task in attack:
                task.cancel()
        after = [await timed_get(client, QUEUED) for _ in range(5)]

    fastest, slowest = min(cut.after for cut in cuts), max(cut.after for cut in cuts)
    answers = sorted({str(cut.status) for cut in cuts})
    print(f"{served.server}: slow bodies cut after {fastest:.2f}-{slowest:.2f} s, {answers}")
    # Cut at the body deadline: not before it (they were held, not refused), not much after.
    assert fastest >= BODY_TIMEOUT * 0.9, cuts
    assert slowest <= BODY_TIMEOUT + MARGIN, cuts
    assert {cut.status for cut in cuts} <= {408, None}, cuts
    assert any(cut.status == 408 for cut in cuts), cuts
    assert [status for status, _ in after] == [200] * len(after)
    log = served.process.log()
    assert "POST /api/v1/user 408" in log, log[-3000:]


async def cut_after_trickled_head(port: int, head: bytes, *, first: bytes = b"") -> Cut:
    """Send `first` (whole requests, read back), then `head` a byte every 0.1 s: when and how
    the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if first:
            writer.write(first)
            await writer.drain()
            answer_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert answer_head.startswith(b"HTTP/1.1 200 "), answer_head
            length = next(
                int(line.split(b":")[1])
                for line in answer_head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
        started = time.monotonic()
        trickling = asyncio.create_task(trickle(writer, head, 0.1))
        try:
            answer = await asyncio.wait_for(read_answer(reader), HEADERS_TIMEOUT + MARGIN)
        finally:
            trickling.cancel()
        return Cut(time.monotonic() - started, status_of(answer))
    finally:
        writer.close()


ENDLESS_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: a\r\n" * 1000


async def test_a_head_that_trickles_in_is_cut_at_its_deadline(served: Served) -> None:
    fresh = await cut_after_trickled_head(served.port, ENDLESS_HEAD)
    # On a kept-alive connection, after a first request: the wait for the next request is
    # the keep-alive timeout's, but once its head has begun the head's deadline holds.
    first = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    later = await cut_after_trickled_head(served.port, ENDLESS_HEAD, first=first)
    print(
        f"\n{served.server}: trickled heads cut after {fresh.after:.2f} s (new connection), "
        f"{later.after:.2f} s (second request); answers {fresh.status}, {later.status}"
    )
    for cut in (fresh, later):
        assert HEADERS_TIMEOUT * 0.9 <= cut.after <= HEADERS_TIMEOUT + MARGIN, cut
        assert cut.status in (408, None), cut
    if served.server == "uvicorn":
        # (A byte that arrives as the server closes turns the close into a reset, which may
        # overtake the 408 it sent.)
        assert 408 in (fresh.status, later.status)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{served.url}/health")).status_code == 200


async def answer_to(port: int, request: bytes) -> int | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(request)
            await writer.drain()
        return status_of(await asyncio.wait_for(read_answer(reader), 10))
    finally:
        writer.close()


def head_with(headers: list[bytes], path: bytes = b"/health") -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("2,000 headers, 200 KB", [b"X-H%d: " % n + b"v" * 90 for n in range(2000)]),
        ("101 small headers", [b"X-H%d: v" % n for n in range(99)]),
        ("one header of 40 KB", [b"X-Big: " + b"v" * 40_000]),
        ("90 headers of 500 bytes", [b"X-H%d: " % n + b"v" * 500 for n in range(90)]),
    ],
)
async def test_too_many_or_too_large_headers_are_refused(
    served: Served, case: str, headers: list[bytes]
) -> None:
    status = await answer_to(served.port, head_with(headers))
    assert status in (400, 431, None), f"{case}: {status}"
    # Within the bounds: 97 headers, 95 of them of 300 bytes (about 30 KB in all), served.
    within = head_with([b"X-H%d: " % n + b"v" * 300 for n in range(95)])
    assert await answer_to(served.port, within) == 200
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{served.url}/health")).status_code == 200


async def test_a_url_longer_than_the_head_bound_is_refused(served: Served) -> None:
    status = await answer_to(served.port, head_with([], b"/health?q=" + b"a" * 40_000))
    assert status in (400, 414, 431, None), status
