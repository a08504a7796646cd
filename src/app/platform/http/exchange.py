"""One request as the edge sees it, and the one wrapper of the server's `send`: every message
of the answer, the app's and the edge's own, goes through `Exchange.send`, which adds the
headers (headers.py) and, for a GET, holds the body until it is whole, for its ETag and a 304.
A body larger than `max_etag_buffer` goes out as it comes, without an ETag."""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from app.platform.http.headers import etag_matches, etag_of, not_modified, response_head


class Exchange:
    """The request's state the steps share, and the response side: `send`."""

    __slots__ = (
        "_send",
        "authorization",
        "chunks",
        "if_none_match",
        "is_get",
        "max_etag_buffer",
        "passthrough",
        "public",
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
        scope: Scope,
        send: Send,
        request_id: bytes,
        authorization: bytes | None,
        if_none_match: bytes | None,
        public: bytes,
        max_etag_buffer: int,
    ) -> None:
        self.scope = scope
        self._send = send
        self.request_id = request_id
        self.authorization = authorization
        self.if_none_match = if_none_match
        # headers.public_policy
        self.public = public
        self.max_etag_buffer = max_etag_buffer
        self.is_get = scope["method"] == "GET"
        # What the access log and the request observer report: the status sent, 500 until
        # one is (an error), 499 when the client went away first.
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
            await self._send(
                response_head(
                    message,
                    None,
                    self.request_id,
                    self.scope,
                    False,
                    self.authorization is None,
                    self.public,
                )
            )
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
            if self.size > self.max_etag_buffer:
                self.passthrough = True
                await self._send(
                    response_head(
                        start,
                        None,
                        self.request_id,
                        self.scope,
                        True,
                        self.authorization is None,
                        self.public,
                    )
                )
                for held in self.chunks:
                    await self._send(
                        {"type": "http.response.body", "body": held, "more_body": True}
                    )
                self.chunks = []
            return
        body = b"".join([*self.chunks, chunk]) if self.chunks else chunk
        etag = etag_of(body) if start["status"] == 200 else None
        head = response_head(
            start,
            etag,
            self.request_id,
            self.scope,
            True,
            self.authorization is None,
            self.public,
        )
        if (
            etag is not None
            and self.if_none_match is not None
            and etag_matches(self.if_none_match, etag)
        ):
            self.status = 304
            await self._send(not_modified(head))
            await self._send({"type": "http.response.body", "body": b""})
            return
        await self._send(head)
        await self._send({"type": "http.response.body", "body": body})
