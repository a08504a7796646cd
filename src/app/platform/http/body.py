"""Request bodies: read whole, before admission, within REQUEST_BODY_TIMEOUT_SECONDS (408),
MAX_REQUEST_BODY_BYTES (413) and the bytes the process may hold of bodies read ahead (503), so
that a client that sends its body slowly holds no slot while it does; then handed to the app
(`replay`). A body the app reads from the server itself (a GET or HEAD sent chunked, which
declares no length) is bounded while it streams (`limited`)."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from app.platform.http.replies import BODY_TOO_LARGE, BUSY, Refusal

# Methods whose requests have a body only when they declare a length.
_BODILESS = frozenset({"GET", "HEAD"})
LATE_BODY = Refusal(408, "Request body not received in time")


def expected(method: str, length: bytes | None) -> bool:
    """Whether a request has a body to read ahead: a Content-Length above 0 (a valid one:
    bounds.check has refused the others), or none on a method other than GET and HEAD (the
    body comes chunked)."""
    if length is None:
        return method not in _BODILESS
    return int(length) > 0


class Deadlines:
    """The body deadlines of the requests reading one, kept by one timer for them all: a
    timer per request (asyncio.timeout) doubled what the middleware costs a small POST
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


class BodyReader:
    """Reads whole bodies ahead of admission, for every request of one app, and counts the
    bytes they hold together."""

    __slots__ = ("buffered", "deadlines", "max_body_bytes", "max_buffered_bytes")

    def __init__(self, max_body_bytes: int, max_buffered_bytes: int, timeout: float) -> None:
        self.max_body_bytes = max_body_bytes
        # A body that would take the total past it is refused (503), so that many large
        # uploads at once cannot exhaust memory.
        self.max_buffered_bytes = max_buffered_bytes
        # Bytes of bodies read and not yet released.
        self.buffered = 0
        self.deadlines = Deadlines(timeout)

    async def read(self, receive: Receive) -> bytes | Refusal | None:
        """The request's whole body, counted in `buffered` until `release(len(body))`; a
        refusal (408 late, 413 too large, 503 over the budget) or None (the client has gone),
        with nothing left counted. Run in the request's own task: the deadline cancels it."""
        chunks: list[bytes] = []
        size = 0
        complete = False
        refusal: Refusal | None = None
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        self.deadlines.watch(task)
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                if chunk:
                    if size + len(chunk) > self.max_body_bytes:
                        refusal = BODY_TOO_LARGE
                        break
                    size += len(chunk)
                    self.buffered += len(chunk)
                    chunks.append(chunk)
                    if self.buffered > self.max_buffered_bytes:
                        refusal = BUSY
                        break
                if not message.get("more_body", False):
                    complete = True
                    break
        except asyncio.CancelledError:
            # The deadline's cancellation is a 408; any other (the server stopping) goes on.
            if not self.deadlines.expired(task) or task.uncancel() > 0:
                raise
            refusal = LATE_BODY
        finally:
            self.deadlines.done(task)
            if not complete:
                self.buffered -= size
        if complete:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return refusal

    def release(self, size: int) -> None:
        """The app is done with a body of `size` bytes that `read` returned."""
        self.buffered -= size


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for a request whose body has been read: the body, then the server's own
    messages (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


class BodyTooLarge(HTTPException):
    """Raised while streaming; an HTTPException so the route's body parsing lets it through."""

    def __init__(self) -> None:
        super().__init__(BODY_TOO_LARGE.status, BODY_TOO_LARGE.detail)


def limited(receive: Receive, limit: int) -> Receive:
    """`receive` that raises BodyTooLarge once the body has gone past `limit` bytes."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge()
        return message

    return limited_receive
