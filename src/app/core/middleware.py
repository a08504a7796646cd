"""ASGI middleware: request ids and the access log, clean URLs, bounded request bodies,
rate-limit headers, client-side caching."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var

access_logger = logging.getLogger("app.access")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(HTTPException):
    """Raised while streaming; an HTTPException so the route's body parsing lets it through."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large")


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Gives every request an id (the client's `X-Request-ID` when it is a plain token of up to
    128 characters, else a new one), returns it in `X-Request-ID`, tags every log record of the
    request with it, and writes one access-log line: method, path, status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope["headers"], b"x-request-id")
        request_id = given.decode() if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            client = scope.get("client")
            access_logger.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": client[0] if client else None,
                },
            )
            request_id_var.reset(token)


class UrlGuardMiddleware:
    """Refuse, with 400, a path or query string holding a NUL character: no route can use one,
    and PostgreSQL would fail on it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query:
                await _reply(send, 400, "NUL characters are not allowed in the URL")
                return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _reply(send, 413, "Request body too large")
                    return
                break

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _reply(send, 413, "Request body too large")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class RateLimitHeadersMiddleware:
    """Adds the X-RateLimit-* headers that the rate limiter left in the request's state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_limit_headers") or {}
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                for name, value in extra.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ClientCacheMiddleware:
    """Cache-Control and ETags for clients.

    A successful anonymous GET may be cached for `max_age` seconds by anyone; an authenticated
    one only privately, after revalidation; every other response, not at all. GET responses
    carry an ETag, and a matching `If-None-Match` gets a 304 without a body.
    """

    def __init__(self, app: ASGIApp, max_age: int, max_buffer: int = 4 * 1024 * 1024) -> None:
        self.app = app
        self.max_age = max_age
        self.max_buffer = max_buffer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers: list[tuple[bytes, bytes]] = scope["headers"]
        if scope["method"] != "GET":
            await self.app(scope, receive, self._no_store(send))
            return

        anonymous = _header(request_headers, b"authorization") is None
        if_none_match = _header(request_headers, b"if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passthrough = False

        async def buffered_send(message: Message) -> None:
            nonlocal start, size, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if message.get("more_body", False):
                if size > self.max_buffer:
                    passthrough = True
                    await send(self._with_cache_headers(start, None, anonymous))
                    for chunk in chunks:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                return
            body = b"".join(chunks)
            etag = None
            if start["status"] == 200:
                etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
            head = self._with_cache_headers(start, etag, anonymous)
            if (
                etag is not None
                and if_none_match is not None
                and _etag_matches(if_none_match, etag)
            ):
                kept = [
                    (k, v)
                    for k, v in head["headers"]
                    if k.lower() not in (b"content-length", b"content-type")
                ]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(head)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered_send)

    def _with_cache_headers(self, start: Message, etag: bytes | None, anonymous: bool) -> Message:
        headers = list(start.get("headers", []))
        if _header(headers, b"cache-control") is None:
            if start["status"] != 200:
                policy = b"no-store"
            elif anonymous:
                policy = f"public, max-age={self.max_age}".encode()
            else:
                policy = b"private, no-cache"
            headers.append((b"cache-control", policy))
        if etag is not None and _header(headers, b"etag") is None:
            headers.append((b"etag", etag))
        vary = _header(headers, b"vary")
        if vary is None:
            headers.append((b"vary", b"Authorization"))
        return {**start, "headers": headers}

    @staticmethod
    def _no_store(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    if if_none_match.strip() == b"*":
        return True
    candidates = [tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")]
    return etag in candidates
