"""The answers the edge gives itself, instead of the app: a JSON `{"detail": ...}` body.

A step that turns a request away returns a `Refusal` (the shared ones are module constants,
so refusing allocates nothing but the answer); the middleware sends it with `refuse`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import Send


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered by the edge: its status, `detail` and extra headers."""

    status: int
    detail: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


# Retry-After on every 503 of the edge: the wait is one of a crowd, not of an outage.
BUSY = Refusal(503, "The server is busy; retry shortly", ((b"retry-after", b"1"),))
BODY_TOO_LARGE = Refusal(413, "Request body too large")


async def reply(
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


async def refuse(send: Send, refusal: Refusal) -> None:
    """Answer `refusal` and end the connection."""
    await reply(send, refusal.status, refusal.detail, refusal.headers)
