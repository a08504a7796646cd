"""Cache hits answered before routing: an anonymous GET of a route cached with
`serve_hits_early=True` whose entry is there (platform/cache/early.py `early_hit` looks it up)
is answered with the cached body, without FastAPI's routing and dependency resolution. A
request with credentials goes to its route, which may check them."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Message

from app.platform.cache.early import EarlyRoute


def wanted(routes: Sequence[EarlyRoute], is_get: bool, authorization: bytes | None) -> bool:
    """Whether to look the request up: the app has early routes, and it is a GET without an
    Authorization header."""
    return is_get and authorization is None and bool(routes)


def hit_start(body: bytes) -> Message:
    """The head of a hit's answer (the body follows as it is): JSON, marked `X-Cache: HIT`.
    The send wrapper adds the request id and the caching headers, as to the app's answers."""
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-cache", b"HIT"),
        ],
    }
