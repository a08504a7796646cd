"""The edge's steps (app/platform/http/), each through its own function, without an app or a
server. The middleware runs them in its fixed order; what a served app answers is tested in
test_admission.py, test_allowed_hosts.py, test_client_cache.py, test_errors.py, test_logs.py
and test_slow_clients.py."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope

from app.core.errors import DATABASE_RETRY_AFTER, DATABASE_UNAVAILABLE, INTERNAL_ERROR
from app.platform.http import bounds, early_cache, observing, unhandled
from app.platform.http.access_log import log_access
from app.platform.http.admission import Admission
from app.platform.http.body import (
    LATE_BODY,
    BodyReader,
    BodyTooLarge,
    expected,
    limited,
    replay,
)
from app.platform.http.exchange import Exchange
from app.platform.http.headers import (
    etag_matches,
    etag_of,
    not_modified,
    public_policy,
    response_head,
)
from app.platform.http.hosts import INVALID_HOST, HostCheck
from app.platform.http.replies import BODY_TOO_LARGE, BUSY
from app.platform.http.request_id import request_id

PUBLIC = public_policy(60)
DISCONNECT: Message = {"type": "http.disconnect"}


def scope_of(
    method: str = "GET",
    path: str = "/items",
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    state: dict[str, Any] | None = None,
) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": list(headers),
        "client": ("203.0.113.9", 41000),
    }
    if state is not None:
        scope["state"] = state
    return scope


def chunked(*chunks: bytes) -> list[Message]:
    """The messages of a body sent in `chunks`."""
    return [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]


def receiving(messages: Iterable[Message], then: asyncio.Event | None = None) -> Receive:
    """`receive` of these messages; after them, it waits for `then` (forever when None: a
    client that stopped sending) and reports a disconnect."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await (then or asyncio.Event()).wait()
        return DISCONNECT

    return receive


class Sent:
    """A server's `send` that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def headers(self, index: int = 0) -> dict[bytes, bytes]:
        return dict(self.messages[index]["headers"])

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


def start_message(status: int = 200, *headers: tuple[bytes, bytes]) -> Message:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def exchange_of(
    sent: Sent,
    method: str = "GET",
    authorization: bytes | None = None,
    if_none_match: bytes | None = None,
    max_etag_buffer: int = 1024,
) -> Exchange:
    return Exchange(
        scope_of(method),
        sent,
        b"rid-1",
        authorization,
        if_none_match,
        PUBLIC,
        max_etag_buffer,
    )


# request_id


@pytest.mark.parametrize("given", [b"r-42", b"abc.DEF_1:2-3", b"x" * 128])
def test_a_plain_client_request_id_is_kept(given: bytes) -> None:
    assert request_id(given) == given.decode()


@pytest.mark.parametrize(
    "given", [None, b"", b"bad id", b"a\r\nx: y", b"x" * 129, "caf\u00e9".encode()]
)
def test_any_other_request_id_is_replaced_by_a_new_uuid4(given: bytes | None) -> None:
    made = request_id(given)
    parsed = uuid.UUID(hex=made)
    assert made == parsed.hex  # 32 lower-case hex digits, as uuid4().hex
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


def test_new_request_ids_differ() -> None:
    assert len({request_id(None) for _ in range(1000)}) == 1000


# hosts

HOSTS = HostCheck(["api.example.com", "*.example.org", "[::1]"], exempt_paths=("/health",))


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (b"api.example.com", True),
        (b"API.Example.COM:8443", True),
        (b"eu.apps.example.org", True),
        (b"[::1]:8000", True),
        (b"example.org", False),  # `*.` is for subdomains only
        (b"api.example.com.evil.net", False),
        (b"xapi.example.com", False),
        (b"[::2]", False),
        (b"", False),
        (None, False),
    ],
)
def test_the_host_allow_list(header: bytes | None, allowed: bool) -> None:
    assert HOSTS.check("/api/v1/users", header) is (None if allowed else INVALID_HOST)


def test_exempt_paths_need_no_allowed_host() -> None:
    assert HOSTS.check("/health", b"10.0.0.7:8000") is None
    assert HOSTS.check("/health", None) is None
    assert HOSTS.check("/healthz", b"10.0.0.7:8000") is INVALID_HOST
    assert INVALID_HOST.status == 400
    assert INVALID_HOST.detail == "Invalid host header"


# bounds


@pytest.mark.parametrize(
    ("path", "query", "length", "headers", "refusal"),
    [
        ("/items", b"a=1", b"1024", 3, None),
        ("/items", b"", None, 3, None),
        ("/it\x00ems", b"", None, 3, bounds.NUL_IN_URL),
        ("/items", b"a=%00", None, 3, bounds.NUL_IN_URL),
        ("/items", b"a=\x00", None, 3, bounds.NUL_IN_URL),
        ("/items", b"", b"1025", 3, BODY_TOO_LARGE),
        ("/items", b"", b"-1", 3, BODY_TOO_LARGE),
        ("/items", b"", b"12abc", 3, BODY_TOO_LARGE),
        ("/items", b"", b"", 3, BODY_TOO_LARGE),
        ("/items", b"", None, 4, bounds.TOO_MANY_HEADERS),
        # In this order: the URL, the length, the headers.
        ("/it\x00ems", b"", b"2048", 4, bounds.NUL_IN_URL),
        ("/items", b"", b"2048", 4, BODY_TOO_LARGE),
    ],
)
def test_the_head_within_bounds(
    path: str, query: bytes, length: bytes | None, headers: int, refusal: object
) -> None:
    scope = scope_of(path=path, query=query, headers=[(b"x-h", b"v")] * headers)
    assert bounds.check(scope, length, 1024, 3) is refusal


def test_the_refusals_of_the_bounds() -> None:
    assert (bounds.NUL_IN_URL.status, BODY_TOO_LARGE.status) == (400, 413)
    assert bounds.TOO_MANY_HEADERS.status == 431


# body


@pytest.mark.parametrize(
    ("method", "length", "has_body"),
    [
        ("GET", None, False),
        ("HEAD", None, False),
        ("POST", None, True),  # chunked
        ("DELETE", None, True),
        ("POST", b"0", False),
        ("GET", b"5", True),
        ("PATCH", b"5", True),
    ],
)
def test_which_requests_have_a_body_to_read(
    method: str, length: bytes | None, has_body: bool
) -> None:
    assert expected(method, length) is has_body


async def test_a_body_is_read_whole_and_counted_until_released() -> None:
    reader = BodyReader(max_body_bytes=10, max_buffered_bytes=100, timeout=5)
    body = await reader.read(receiving(chunked(b"ab", b"", b"cd", b"e")))
    assert body == b"abcde"
    assert reader.buffered == 5
    reader.release(5)
    assert reader.buffered == 0
    assert await reader.read(receiving(chunked(b"one"))) == b"one"


async def test_a_body_past_the_limit_is_refused_and_not_counted() -> None:
    reader = BodyReader(max_body_bytes=4, max_buffered_bytes=100, timeout=5)
    assert await reader.read(receiving(chunked(b"abc", b"de"))) is BODY_TOO_LARGE
    assert reader.buffered == 0
    assert await reader.read(receiving(chunked(b"abcd"))) == b"abcd"


async def test_bodies_past_the_buffer_budget_are_refused_503() -> None:
    reader = BodyReader(max_body_bytes=10, max_buffered_bytes=6, timeout=5)
    held = await reader.read(receiving(chunked(b"abcd")))
    assert held == b"abcd"
    refused = await reader.read(receiving(chunked(b"ef", b"g")))
    assert refused is BUSY
    assert (BUSY.status, dict(BUSY.headers)) == (503, {b"retry-after": b"1"})
    assert reader.buffered == 4  # the first body's bytes only
    reader.release(4)
    assert await reader.read(receiving(chunked(b"efg"))) == b"efg"


async def test_a_client_gone_before_its_body_ended_leaves_nothing_counted() -> None:
    reader = BodyReader(max_body_bytes=10, max_buffered_bytes=100, timeout=5)
    messages = [*chunked(b"ab", b"cd")[:1], DISCONNECT]
    assert await reader.read(receiving(messages)) is None
    assert reader.buffered == 0


async def test_a_body_late_past_its_deadline_is_a_408() -> None:
    reader = BodyReader(max_body_bytes=10, max_buffered_bytes=100, timeout=0.05)
    # Half a body, then nothing: the deadline ends the wait.
    task = asyncio.create_task(reader.read(receiving(chunked(b"ab", b"cd")[:1])))
    assert await task is LATE_BODY
    assert (LATE_BODY.status, LATE_BODY.detail) == (408, "Request body not received in time")
    assert task.cancelling() == 0  # the deadline's cancellation was taken back
    assert reader.buffered == 0
    # A body on time is not cut short by a deadline that has passed for another.
    assert await asyncio.create_task(reader.read(receiving(chunked(b"ok")))) == b"ok"


async def test_another_cancellation_of_a_body_read_goes_on() -> None:
    reader = BodyReader(max_body_bytes=10, max_buffered_bytes=100, timeout=30)
    arrived = asyncio.Event()
    messages = chunked(b"ab", b"cd")[:1]

    async def receive() -> Message:
        if messages:
            arrived.set()
            return messages.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.create_task(reader.read(receive))
    await arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reader.buffered == 0


async def test_a_replayed_body_comes_first_then_the_server_s_messages() -> None:
    receive = replay(b"whole", receiving([DISCONNECT]))
    assert await receive() == {"type": "http.request", "body": b"whole", "more_body": False}
    assert await receive() == DISCONNECT


async def test_a_streamed_body_past_the_limit_raises_413() -> None:
    receive = limited(receiving(chunked(b"abc", b"de", b"f")), 5)
    assert (await receive())["body"] == b"abc"
    assert (await receive())["body"] == b"de"
    with pytest.raises(BodyTooLarge) as raised:
        await receive()
    assert raised.value.status_code == 413
    # Other messages are not counted.
    gone = limited(receiving([DISCONNECT]), 0)
    assert await gone() == DISCONNECT


# admission


async def test_a_free_slot_is_entered_at_once_and_a_full_house_refuses_in_time() -> None:
    admission = Admission(1, 0.05, frozenset({"/health"}))
    assert admission.unqueued_paths == frozenset({"/health"})
    assert await admission.enter() is True
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await admission.enter() is False
    assert loop.time() - started >= 0.04
    admission.leave()
    assert await admission.enter() is True
    admission.leave()


async def test_waiting_requests_enter_in_arrival_order() -> None:
    admission = Admission(1, 5, frozenset())
    assert await admission.enter()
    entered: list[str] = []

    async def request(name: str) -> None:
        assert await admission.enter()
        entered.append(name)
        admission.leave()

    waiting = []
    for name in "abc":
        waiting.append(asyncio.create_task(request(name)))
        # Its turns until it waits on the slot (wait_for runs the wait in a task of its
        # own), before the next one arrives.
        for _ in range(3):
            await asyncio.sleep(0)
    assert entered == []
    admission.leave()
    await asyncio.gather(*waiting)
    assert entered == ["a", "b", "c"]


# early_cache


def test_only_anonymous_gets_are_looked_up_early() -> None:
    routes: Any = ("a route",)
    assert early_cache.wanted(routes, True, None)
    assert not early_cache.wanted(routes, True, b"Bearer x")
    assert not early_cache.wanted(routes, False, None)
    assert not early_cache.wanted((), True, None)


def test_a_hit_is_answered_as_json_marked_hit() -> None:
    start = early_cache.hit_start(b'{"id":1}')
    assert start["status"] == 200
    assert dict(start["headers"]) == {
        b"content-type": b"application/json",
        b"content-length": b"8",
        b"x-cache": b"HIT",
    }


# headers

LIMITS = {"rate_limit_headers": {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"}}


def test_an_anonymous_get_is_public_with_its_etag_id_and_limits() -> None:
    start = start_message(200, (b"Content-Type", b"application/json"), (b"X-Request-ID", b"x"))
    head = response_head(start, b'"tag"', b"rid-1", scope_of(state=LIMITS), True, True, PUBLIC)
    assert head["status"] == 200
    assert head["headers"] == [
        (b"content-type", b"application/json"),
        (b"x-request-id", b"rid-1"),  # the app's own is replaced
        (b"x-ratelimit-limit", b"10"),
        (b"x-ratelimit-remaining", b"9"),
        (b"cache-control", b"public, max-age=60"),
        (b"etag", b'"tag"'),
        (b"vary", b"Authorization"),
    ]
    assert start["headers"][1] == (b"X-Request-ID", b"x")  # the app's message is left as it was


@pytest.mark.parametrize(
    ("status", "anonymous", "policy"),
    [
        (200, False, b"private, no-cache"),
        (404, True, b"no-store"),
        (304, False, b"no-store"),
    ],
)
def test_the_cache_policy_of_a_get(status: int, anonymous: bool, policy: bytes) -> None:
    head = response_head(start_message(status), None, b"r", scope_of(), True, anonymous, PUBLIC)
    headers = dict(head["headers"])
    assert headers[b"cache-control"] == policy
    assert b"etag" not in headers


def test_a_get_keeps_the_app_s_own_caching_headers() -> None:
    start = start_message(
        200,
        (b"Cache-Control", b"max-age=5"),
        (b"ETag", b'"mine"'),
        (b"Vary", b"Accept"),
        (b"X-RateLimit-Limit", b"3"),
    )
    head = response_head(start, b'"tag"', b"r", scope_of(state=LIMITS), True, True, PUBLIC)
    assert head["headers"] == [
        (b"cache-control", b"max-age=5"),
        (b"etag", b'"mine"'),
        (b"vary", b"Accept"),
        (b"x-ratelimit-limit", b"3"),
        (b"x-request-id", b"r"),
        (b"x-ratelimit-remaining", b"9"),
    ]


def test_every_other_method_is_no_store_whatever_the_app_said() -> None:
    start = start_message(201, (b"cache-control", b"public, max-age=600"))
    head = response_head(start, None, b"r", scope_of("POST"), False, True, PUBLIC)
    assert head["headers"] == [(b"x-request-id", b"r"), (b"cache-control", b"no-store")]


def test_an_etag_is_a_quoted_hash_of_the_body() -> None:
    tag = etag_of(b"body")
    assert tag.startswith(b'"')
    assert tag.endswith(b'"')
    assert len(tag) == 34
    assert etag_of(b"body") == tag
    assert etag_of(b"other") != tag


@pytest.mark.parametrize(
    ("if_none_match", "matches"),
    [
        (b'"t"', True),
        (b'"a", "t"', True),
        (b'W/"t"', True),
        (b" * ", True),
        (b'"a", "b"', False),
        (b"t", False),
        (b"", False),
    ],
)
def test_if_none_match(if_none_match: bytes, matches: bool) -> None:
    assert etag_matches(if_none_match, b'"t"') is matches


def test_a_304_keeps_the_headers_but_the_body_s_own() -> None:
    head = start_message(
        200,
        (b"content-type", b"application/json"),
        (b"content-length", b"2"),
        (b"etag", b'"t"'),
        (b"cache-control", b"no-cache"),
    )
    assert not_modified(head) == start_message(
        304, (b"etag", b'"t"'), (b"cache-control", b"no-cache")
    )


# exchange: the send wrapper


async def test_a_get_is_held_whole_for_its_etag() -> None:
    sent = Sent()
    exchange = exchange_of(sent)
    await exchange.send(start_message(200, (b"content-type", b"application/json")))
    assert exchange.started
    assert sent.messages == []  # held until the body is whole
    await exchange.send({"type": "http.response.body", "body": b'{"a":', "more_body": True})
    await exchange.send({"type": "http.response.body", "body": b"1}"})
    assert len(sent.messages) == 2
    assert sent.headers()[b"etag"] == etag_of(b'{"a":1}')
    assert sent.headers()[b"x-request-id"] == b"rid-1"
    assert sent.body() == b'{"a":1}'
    assert exchange.status == 200


async def test_a_get_whose_etag_the_client_has_gets_a_304() -> None:
    sent = Sent()
    exchange = exchange_of(sent, if_none_match=b'W/"x", ' + etag_of(b"same"))
    await exchange.send(start_message(200, (b"content-type", b"text/plain")))
    await exchange.send({"type": "http.response.body", "body": b"same"})
    assert sent.messages[0]["status"] == 304
    assert b"content-type" not in sent.headers()
    assert sent.headers()[b"etag"] == etag_of(b"same")
    assert sent.messages[1] == {"type": "http.response.body", "body": b""}
    assert exchange.status == 304


async def test_a_body_larger_than_the_etag_buffer_streams_without_an_etag() -> None:
    sent = Sent()
    exchange = exchange_of(sent, max_etag_buffer=4)
    await exchange.send(start_message(200))
    await exchange.send({"type": "http.response.body", "body": b"abc", "more_body": True})
    assert sent.messages == []
    await exchange.send({"type": "http.response.body", "body": b"def", "more_body": True})
    await exchange.send({"type": "http.response.body", "body": b"gh", "more_body": True})
    await exchange.send({"type": "http.response.body", "body": b""})
    assert b"etag" not in sent.headers()
    assert sent.headers()[b"cache-control"] == PUBLIC
    assert [m["body"] for m in sent.messages[1:]] == [b"abc", b"def", b"gh", b""]
    assert [m.get("more_body", False) for m in sent.messages[1:]] == [True, True, True, False]


async def test_other_methods_go_out_as_they_come() -> None:
    sent = Sent()
    exchange = exchange_of(sent, method="POST")
    await exchange.send(start_message(201))
    assert sent.headers() == {b"x-request-id": b"rid-1", b"cache-control": b"no-store"}
    await exchange.send({"type": "http.response.body", "body": b"x", "more_body": True})
    assert len(sent.messages) == 2
    assert exchange.status == 201


# observing


class Observer:
    unmeasured = frozenset({"/metrics"})

    def __init__(self) -> None:
        self.in_flight = 0
        self.seen: list[tuple[str | None, int, float]] = []

    def observe(self, scope: Scope, template: str | None, status: int, seconds: float) -> None:
        self.seen.append((template, status, seconds))


def test_the_observer_counts_requests_in_flight_and_sees_them_answered() -> None:
    observer = Observer()
    assert observing.start(None, "/items") is None
    assert observing.start(observer, "/metrics") is None
    assert observer.in_flight == 0
    assert observing.start(observer, "/items") is observer
    assert observer.in_flight == 1
    observing.finish(observer, scope_of(), "/items/{id}", 200, 0.25)
    assert observer.in_flight == 0
    assert observer.seen == [("/items/{id}", 200, 0.25)]


# unhandled


async def test_an_unhandled_error_is_a_500_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sent = Sent()
    with caplog.at_level(logging.ERROR):
        await unhandled.answer(RuntimeError("boom"), scope_of(), exchange_of(sent))
    assert sent.messages[0]["status"] == 500
    assert json.loads(sent.body()) == {"detail": INTERNAL_ERROR}
    assert b"connection" not in sent.headers()  # the connection stays open
    assert sent.headers()[b"x-request-id"] == b"rid-1"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


async def test_the_database_unavailable_is_a_503_with_retry_after() -> None:
    sent = Sent()
    error = ConnectionRefusedError("connection refused")
    await unhandled.answer(error, scope_of("POST"), exchange_of(sent, method="POST"))
    assert sent.messages[0]["status"] == 503
    assert sent.headers()[b"retry-after"] == DATABASE_RETRY_AFTER.encode()
    assert json.loads(sent.body()) == {"detail": DATABASE_UNAVAILABLE}


async def test_an_error_after_the_answer_started_sends_nothing_more() -> None:
    sent = Sent()
    exchange = exchange_of(sent, method="POST")
    await exchange.send(start_message(200))
    await unhandled.answer(RuntimeError("late"), scope_of("POST"), exchange)
    assert len(sent.messages) == 1


# access_log


def test_the_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        log_access(scope_of(path="/items/7", query=b"secret=1"), 404, 0.01234)
        anonymous = scope_of("DELETE")
        del anonymous["client"]
        log_access(anonymous, 499, 0.5)
    lines = [r for r in caplog.records if r.name == "app.access"]
    assert [r.getMessage() for r in lines] == [
        "GET /items/7 404 12.3ms from 203.0.113.9",
        "DELETE /items 499 500.0ms from -",
    ]
    first = lines[0].__dict__
    assert (first["method"], first["path"], first["status"]) == ("GET", "/items/7", 404)
    assert (first["duration_ms"], first["client"]) == (12.3, "203.0.113.9")
    assert lines[1].__dict__["client"] is None
