"""The app's one middleware: a pure-ASGI layer that does, for every HTTP request, in one pass
over its headers and one wrapper of `send`:

- request ids (`X-Request-ID`, the client's when it is a plain token) and the access log;
- admission: at most MAX_IN_FLIGHT_REQUESTS requests of this process run at once, the others
  wait in arrival order, and one that waits longer than QUEUE_TIMEOUT_SECONDS gets a 503 with
  `Retry-After` (never a timeout);
- the Host allow-list outside local (400), clean URLs (no NUL characters), bounded request
  bodies (413) and headers (431);
- request bodies read whole, within REQUEST_BODY_TIMEOUT_SECONDS (408), before admission: a
  client that sends its body slowly holds no slot while it does;
- cache hits answered before routing (platform/cache/early.py);
- the rate limiter's X-RateLimit-* headers, and client-side caching (Cache-Control, ETag and
  304 answers to If-None-Match);
- every answered request reported to the request observer (core/observe.py), when a
  collector installed one: the metrics' count and duration by route template and status;
- the answer to an error nothing else handled (a 503 when the database is unavailable, else a
  500; core/errors.py `unhandled_error`): logged once, with the request id, and never raised
  to the server, which would log it again and close the client's connection.

One layer, because each pure-ASGI middleware that wraps `send` costs every request a call per
message and a copy of the header list; the profile of a cache hit showed five of them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import unhandled_error
from app.core.observe import RequestObserver
from app.platform.cache.early import EarlyRoute, early_hit
from app.platform.logging import request_id_var

access_logger = logging.getLogger("app.access")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(HTTPException):
    """Raised while streaming; an HTTPException so the route's body parsing lets it through."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large")


async def _reply(
    send: Send,
    status: int,
    detail: str,
    extra: Sequence[tuple[bytes, bytes]] = (),
    *,
    close: bool = True,
) -> None:
    """A JSON `{"detail": ...}` answer; with `close`, the connection ends after it (the
    request's body may be left unread)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer_unhandled(exc: Exception, scope: Scope, exchange: _Exchange) -> None:
    """Log `exc` once and answer it, with a complete response so that the connection stays
    open. A response already started cannot be replaced: the server, seeing it unfinished,
    closes the connection."""
    status, detail, headers = unhandled_error(exc, scope["method"], scope["path"])
    if exchange.started:
        return
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await _reply(exchange.send, status, detail, extra, close=False)


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


class HostCheck:
    """Whether a Host header names one of the allowed hosts (its port aside)."""

    def __init__(self, hosts: Iterable[str], exempt_paths: Iterable[str] = ("/health",)) -> None:
        # Liveness probes and scrapers reach the server by internal names.
        self.exempt_paths = frozenset(exempt_paths)
        self._exact = frozenset(h for h in hosts if not h.startswith("*."))
        self._suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def allows(self, header: bytes | None) -> bool:
        if not header:
            return False
        host = header.decode("latin-1").lower()
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        return host in self._exact or (bool(self._suffixes) and host.endswith(self._suffixes))


# Methods whose requests have a body only when they declare a length.
_BODILESS = frozenset({"GET", "HEAD"})


class _Deadlines:
    """The body deadlines of the requests reading one, kept by one timer for them all: a
    timer per request (asyncio.timeout) doubled what this middleware costs a small POST
    (13 of 28 us, measured in-process on uvloop)."""

    __slots__ = ("_due", "_expired", "_loop", "_timer", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # Tasks by deadline, in deadline order: every one gets the same timeout.
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, task: asyncio.Task[object]) -> None:
        """Cancel `task` once its deadline has passed, unless `done` came first."""
        loop = task.get_loop()
        if loop is not self._loop:  # a new event loop (tests): the old timer is gone
            self._due.clear()
            self._expired.clear()
            self._loop, self._timer = loop, None
        due = loop.time() + self.timeout
        self._due[task] = due
        if self._timer is None:
            self._timer = loop.call_at(due, self._expire, loop)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether `task` has been cancelled for its deadline."""
        return task in self._expired

    def done(self, task: asyncio.Task[object]) -> None:
        """Stop watching `task`."""
        if self._due.pop(task, None) is None:
            self._expired.discard(task)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        due = self._due
        while due:
            task = next(iter(due))
            if due[task] > now:
                self._timer = loop.call_at(due[task], self._expire, loop)
                return
            del due[task]
            self._expired.add(task)
            task.cancel()


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, config: EdgeConfig) -> None:
        self.app = app
        self.config = config
        self._slots = asyncio.Semaphore(config.max_in_flight)
        # Bytes of bodies read ahead of admission and not yet done with.
        self._buffered = 0
        self._deadlines = _Deadlines(config.body_timeout)
        self._public = f"public, max-age={config.client_max_age}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
        request_id = given.decode() if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        observer = self.config.observer
        if observer is not None and scope["path"] in observer.unmeasured:
            observer = None
        if observer is not None:
            observer.in_flight += 1
        started = time.perf_counter()
        exchange = _Exchange(self, scope, send, request_id.encode(), authorization, if_none_match)
        try:
            await self._handle(scope, receive, exchange, length, host)
        except Exception as exc:
            await _answer_unhandled(exc, scope, exchange)
        finally:
            elapsed = time.perf_counter() - started
            if observer is not None:
                observer.in_flight -= 1
                # After the app returned: Starlette has put the matched route in the scope.
                observer.observe(scope, exchange.template, exchange.status, elapsed)
            duration_ms = round(elapsed * 1000, 1)
            client = scope.get("client")
            address = client[0] if client else None
            access_logger.info(
                "%s %s %s %.1fms from %s",
                scope["method"],
                scope["path"],
                exchange.status,
                duration_ms,
                address or "-",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": exchange.status,
                    "duration_ms": duration_ms,
                    "client": address,
                },
            )
            request_id_var.reset(token)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        exchange: _Exchange,
        length: bytes | None,
        host: bytes | None,
    ) -> None:
        config = self.config
        hosts = config.allowed_hosts
        if hosts is not None and not hosts.allows(host) and scope["path"] not in hosts.exempt_paths:
            await _reply(exchange.send, 400, "Invalid host header")
            return
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query:
            await _reply(exchange.send, 400, "NUL characters are not allowed in the URL")
            return
        if length is None:
            has_body = scope["method"] not in _BODILESS
        elif not length.isdigit() or int(length) > config.max_body_bytes:
            await _reply(exchange.send, 413, "Request body too large")
            return
        else:
            has_body = int(length) > 0
        if len(scope["headers"]) > config.max_headers:
            await _reply(exchange.send, 431, "Too many request headers")
            return
        if not has_body:
            await self._admit(scope, receive, exchange)
            return
        body = await self._read_body(receive, exchange)
        if body is None:
            return
        try:
            await self._admit(scope, _replay(body, receive), exchange)
        finally:
            self._buffered -= len(body)

    async def _read_body(self, receive: Receive, exchange: _Exchange) -> bytes | None:
        """The request's whole body, counted in `_buffered` (the caller takes it off); None
        when the request has been answered instead (408 late, 413 too large, 503 over the
        buffer budget) or the client has gone."""
        config = self.config
        chunks: list[bytes] = []
        size = 0
        complete = False
        refusal: tuple[int, str] | None = None
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        self._deadlines.watch(task)
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    # Nothing to answer: the access log says 499, as nginx's does.
                    exchange.status = 499
                    break
                chunk = message.get("body", b"")
                if chunk:
                    if size + len(chunk) > config.max_body_bytes:
                        refusal = (413, "Request body too large")
                        break
                    size += len(chunk)
                    self._buffered += len(chunk)
                    chunks.append(chunk)
                    if self._buffered > config.max_buffered_bytes:
                        refusal = (503, "The server is busy; retry shortly")
                        break
                if not message.get("more_body", False):
                    complete = True
                    break
        except asyncio.CancelledError:
            # The deadline's cancellation is a 408; any other (the server stopping) goes on.
            if not self._deadlines.expired(task) or task.uncancel() > 0:
                raise
            refusal = (408, "Request body not received in time")
        finally:
            self._deadlines.done(task)
            if not complete:
                self._buffered -= size
        if complete:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if refusal is not None:
            status, detail = refusal
            retry = ((b"retry-after", b"1"),) if status == 503 else ()
            await _reply(exchange.send, status, detail, retry)
        return None

    async def _admit(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        config = self.config
        if scope["path"] in config.unqueued_paths:
            await self._run(scope, receive, exchange)
            return
        slots = self._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), config.queue_timeout)
            except TimeoutError:
                retry = ((b"retry-after", b"1"),)
                await _reply(exchange.send, 503, "The server is busy; retry shortly", retry)
                return
        else:
            await slots.acquire()
        try:
            await self._run(scope, receive, exchange)
        finally:
            slots.release()

    async def _run(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        if self.config.early_routes and exchange.is_get and exchange.authorization is None:
            hit = await early_hit(self.config.early_routes, scope)
            if hit is not None:
                exchange.template, body = hit
                await exchange.send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-cache", b"HIT"),
                        ],
                    }
                )
                await exchange.send({"type": "http.response.body", "body": body})
                return
        limit = self.config.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, exchange.send)
        except _BodyTooLarge:
            if not exchange.started:
                await _reply(exchange.send, 413, "Request body too large")


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for a request whose body has been read: the body, then the server's own
    messages (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


class _Exchange:
    """The response side of one request: the one `send` wrapper."""

    __slots__ = (
        "_send",
        "authorization",
        "chunks",
        "edge",
        "if_none_match",
        "is_get",
        "passthrough",
        "request_id",
        "scope",
        "size",
        "start",
        "started",
        "status",
        "template",
    )

    def __init__(
        self,
        edge: EdgeMiddleware,
        scope: Scope,
        send: Send,
        request_id: bytes,
        authorization: bytes | None,
        if_none_match: bytes | None,
    ) -> None:
        self.edge = edge
        self.scope = scope
        self._send = send
        self.request_id = request_id
        self.authorization = authorization
        self.if_none_match = if_none_match
        self.is_get = scope["method"] == "GET"
        self.status = 500
        self.started = False
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.passthrough = False
        # The route's template when the middleware answered without routing (a cache hit).
        self.template: str | None = None

    # A method, not a bound method kept in an attribute: that would make the exchange a
    # reference cycle, which keeps the server's `send` (under Granian, the connection, body
    # and all) alive until the garbage collector runs, long after the response.
    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
            self.status = message["status"]
            if self.is_get:
                self.start = message  # held until the body gives the ETag
                return
            await self._send(self._head(message, None))
            return
        if not self.is_get or self.passthrough or kind != "http.response.body":
            await self._send(message)
            return
        start = self.start
        if start is None:
            await self._send(message)
            return
        chunk = message.get("body", b"")
        if message.get("more_body", False):
            self.chunks.append(chunk)
            self.size += len(chunk)
            if self.size > self.edge.config.max_etag_buffer:
                self.passthrough = True
                await self._send(self._head(start, None))
                for held in self.chunks:
                    await self._send(
                        {"type": "http.response.body", "body": held, "more_body": True}
                    )
                self.chunks = []
            return
        body = b"".join([*self.chunks, chunk]) if self.chunks else chunk
        etag = None
        if start["status"] == 200:
            etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
        head = self._head(start, etag)
        if (
            etag is not None
            and self.if_none_match is not None
            and _etag_matches(self.if_none_match, etag)
        ):
            kept = [
                (k, v) for k, v in head["headers"] if k not in (b"content-length", b"content-type")
            ]
            self.status = 304
            await self._send({"type": "http.response.start", "status": 304, "headers": kept})
            await self._send({"type": "http.response.body", "body": b""})
            return
        await self._send(head)
        await self._send({"type": "http.response.body", "body": body})

    def _head(self, start: Message, etag: bytes | None) -> Message:
        """The response's headers with the request id, the rate-limit headers and the
        client-caching policy added (a header the app set itself is kept)."""
        headers: list[tuple[bytes, bytes]] = []
        cache_control = vary = has_etag = False
        present: set[bytes] = set()
        for key, value in start.get("headers", ()):
            name = key.lower()
            if name == b"x-request-id":
                continue
            if name == b"cache-control":
                if not self.is_get:
                    continue  # every other method gets no-store, whatever the app said
                cache_control = True
            elif name == b"vary":
                vary = True
            elif name == b"etag":
                has_etag = True
            present.add(name)
            headers.append((name, value))
        headers.append((b"x-request-id", self.request_id))
        state = self.scope.get("state")
        limits = state.get("rate_limit_headers") if state else None
        if limits:
            for name_str, value_str in limits.items():
                name = name_str.lower().encode()
                if name not in present:
                    headers.append((name, value_str.encode()))
        if not self.is_get:
            headers.append((b"cache-control", b"no-store"))
        else:
            if not cache_control:
                if start["status"] != 200:
                    policy = b"no-store"
                elif self.authorization is None:
                    policy = self.edge._public
                else:
                    policy = b"private, no-cache"
                headers.append((b"cache-control", policy))
            if etag is not None and not has_etag:
                headers.append((b"etag", etag))
            if not vary:
                headers.append((b"vary", b"Authorization"))
        return {**start, "headers": headers}


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    if if_none_match.strip() == b"*":
        return True
    candidates = [tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")]
    return etag in candidates
