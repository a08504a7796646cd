"""The app's one middleware: a pure-ASGI layer that runs, for every HTTP request, the edge's
steps in this order, over one pass on the request's headers and one wrapper of `send`
(exchange.py):

1. request_id    the request's id (`X-Request-ID`), set for its log lines;
2. observing     the request observer counts it in flight, when a collector installed one;
3. hosts         the Host allow-list outside local (400);
4. bounds        a clean URL (no NUL: 400), a declared body length (413) and the number of
                 headers (431) within bounds;
5. body          the body read whole, within REQUEST_BODY_TIMEOUT_SECONDS (408), its size
                 limit (413) and the process's budget of bodies read ahead (503), before
                 admission: a client that sends its body slowly holds no slot while it does;
6. admission     at most MAX_IN_FLIGHT_REQUESTS requests run at once, the others wait in
                 arrival order, and one that waits longer than QUEUE_TIMEOUT_SECONDS gets a
                 503 with `Retry-After` (never a timeout);
7. early_cache   a cache hit answered before routing (platform/cache/early.py);
8. the app       a body it reads from the server itself bounded as it streams (body.limited,
                 413); every message it sends goes out through the `send` wrapper, where
                 headers adds the request id, the rate limiter's X-RateLimit-* and the
                 client-caching policy (Cache-Control, ETag, and a 304 to an If-None-Match
                 that names the ETag);
9. unhandled     an error nothing else handled answered once (503 when the database is
                 unavailable, else 500), logged with the request id, never raised to the
                 server, which would log it again and close the client's connection;
10. observing    the answered request reported to the observer,
    access_log   and logged.

A step that refuses a request (3 to 6, and 8's 413) answers through the same `send` wrapper,
so that the refusal carries the request id and `no-store` like any other answer, and no later
step runs.

One layer, because each pure-ASGI middleware that wraps `send` costs every request a call per
message and a copy of the header list; the profile of a cache hit showed five of them. The
steps are plain functions and objects built once, with the app: a request on its way to the
app allocates what it did when they were one function (its Exchange, a `receive` wrapper) and
awaits nothing more."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.observe import RequestObserver
from app.platform.cache.early import EarlyRoute, early_hit
from app.platform.http import bounds, early_cache, observing, unhandled
from app.platform.http.access_log import log_access
from app.platform.http.admission import Admission
from app.platform.http.body import BodyReader, BodyTooLarge, expected, limited, replay
from app.platform.http.exchange import Exchange
from app.platform.http.headers import public_policy
from app.platform.http.hosts import HostCheck
from app.platform.http.replies import BODY_TOO_LARGE, BUSY, Refusal, refuse
from app.platform.http.request_id import request_id
from app.platform.logging import request_id_var


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    max_body_bytes: int
    # Cache-Control max-age of successful anonymous GET responses.
    client_max_age: int
    early_routes: Sequence[EarlyRoute] = ()
    max_in_flight: int = 64
    queue_timeout: float = 3.0
    # Paths admitted without waiting (liveness checks must answer under load).
    unqueued_paths: frozenset[str] = frozenset({"/health"})
    max_etag_buffer: int = 4 * 1024 * 1024
    # None: nobody observes requests (no collector installed one)
    observer: RequestObserver | None = None
    # None: any Host (local); else the hosts a request may name (`*.example.com` included)
    allowed_hosts: HostCheck | None = None

    # Seconds a request's body may take to arrive, from the moment its headers did (408).
    body_timeout: float = 30.0
    # Headers per request (431 above). The servers bound the headers too; this covers a
    # smaller setting than Granian's fixed 100.
    max_headers: int = 100
    # Bytes of bodies read ahead of admission, all requests of the process together: a body
    # that would go past it is answered 503, so many large uploads at once cannot exhaust
    # memory.
    max_buffered_bytes: int = 64 * 1_048_576


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, config: EdgeConfig) -> None:
        self.app = app
        self.config = config
        self._admission = Admission(
            config.max_in_flight, config.queue_timeout, config.unqueued_paths
        )
        self._bodies = BodyReader(
            config.max_body_bytes, config.max_buffered_bytes, config.body_timeout
        )
        self._public = public_policy(config.client_max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.config
        path: str = scope["path"]
        given = authorization = if_none_match = length = host = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"x-request-id":
                given = value
            elif name == b"authorization":
                authorization = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"content-length":
                length = value
        # 1
        rid = request_id(given)
        token = request_id_var.set(rid)
        # 2
        observer = observing.start(config.observer, path)
        started = time.perf_counter()
        exchange = Exchange(
            scope,
            send,
            rid.encode(),
            authorization,
            if_none_match,
            self._public,
            config.max_etag_buffer,
        )
        # The steps run in this one coroutine (the app in a second, `_run`): every level of
        # coroutines would cost each request a frame, and each of its resumptions a hop.
        try:
            # 3
            hosts = config.allowed_hosts
            refusal = None if hosts is None else hosts.check(path, host)
            if refusal is None:
                # 4
                refusal = bounds.check(scope, length, config.max_body_bytes, config.max_headers)
            if refusal is not None:
                await refuse(exchange.send, refusal)
                return
            # 5
            body: bytes | None = None
            if expected(scope["method"], length):
                read = await self._bodies.read(receive)
                if read is None:
                    exchange.status = 499  # nothing to answer: the client has gone
                    return
                if isinstance(read, Refusal):
                    await refuse(exchange.send, read)
                    return
                body = read
                receive = replay(body, receive)
            try:
                # 6
                admission = self._admission
                if path in admission.unqueued_paths:
                    await self._run(scope, receive, exchange)
                elif await admission.enter():
                    try:
                        await self._run(scope, receive, exchange)
                    finally:
                        admission.leave()
                else:
                    await refuse(exchange.send, BUSY)
            finally:
                if body is not None:
                    self._bodies.release(len(body))
        except Exception as exc:
            # 9
            await unhandled.answer(exc, scope, exchange)
        finally:
            # 10
            elapsed = time.perf_counter() - started
            if observer is not None:
                observing.finish(observer, scope, exchange.template, exchange.status, elapsed)
            log_access(scope, exchange.status, elapsed)
            request_id_var.reset(token)

    async def _run(self, scope: Scope, receive: Receive, exchange: Exchange) -> None:
        config = self.config
        # 7
        if early_cache.wanted(config.early_routes, exchange.is_get, exchange.authorization):
            hit = await early_hit(config.early_routes, scope)
            if hit is not None:
                exchange.template, body = hit
                await exchange.send(early_cache.hit_start(body))
                await exchange.send({"type": "http.response.body", "body": body})
                return
        # 8
        try:
            await self.app(scope, limited(receive, config.max_body_bytes), exchange.send)
        except BodyTooLarge:
            if not exchange.started:
                await refuse(exchange.send, BODY_TOO_LARGE)
