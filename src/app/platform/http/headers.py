"""The headers every answer leaves with, the app's and the edge's own alike: the request id,
the rate limiter's `X-RateLimit-*` (the limiter leaves them in the request's state), and the
client-caching policy:

- a GET's answer carries Cache-Control (unless the app set one): `public, max-age=N`
  (CLIENT_CACHE_MAX_AGE) for a 200 to an anonymous request, `private, no-cache` for a 200 to
  one with credentials, `no-store` for any other status; an ETag (a hash of the body) on a
  200, and `Vary: Authorization`; an If-None-Match that names the ETag gets a 304;
- every other method's answer is `no-store`, whatever the app said.

A header the app set itself is kept, the request id aside."""

from __future__ import annotations

import hashlib

from starlette.types import Message, Scope


def public_policy(max_age: int) -> bytes:
    """The Cache-Control of a 200 to an anonymous GET."""
    return f"public, max-age={max_age}".encode()


def response_head(
    start: Message,
    etag: bytes | None,
    request_id: bytes,
    scope: Scope,
    is_get: bool,
    anonymous: bool,
    public: bytes,
) -> Message:
    """`start` (an `http.response.start` message) with its header names in lower case and
    the request id, the rate-limit headers and the caching policy added. `etag`: the body's,
    for a 200 to a GET, else None; `public`: the `public_policy`."""
    headers: list[tuple[bytes, bytes]] = []
    cache_control = vary = has_etag = False
    present: set[bytes] = set()
    for key, value in start.get("headers", ()):
        name = key.lower()
        if name == b"x-request-id":
            continue
        if name == b"cache-control":
            if not is_get:
                continue  # every other method gets no-store, whatever the app said
            cache_control = True
        elif name == b"vary":
            vary = True
        elif name == b"etag":
            has_etag = True
        present.add(name)
        headers.append((name, value))
    headers.append((b"x-request-id", request_id))
    state = scope.get("state")
    limits = state.get("rate_limit_headers") if state else None
    if limits:
        for name_str, value_str in limits.items():
            name = name_str.lower().encode()
            if name not in present:
                headers.append((name, value_str.encode()))
    if not is_get:
        headers.append((b"cache-control", b"no-store"))
    else:
        if not cache_control:
            if start["status"] != 200:
                policy = b"no-store"
            elif anonymous:
                policy = public
            else:
                policy = b"private, no-cache"
            headers.append((b"cache-control", policy))
        if etag is not None and not has_etag:
            headers.append((b"etag", etag))
        if not vary:
            headers.append((b"vary", b"Authorization"))
    return {**start, "headers": headers}


def etag_of(body: bytes) -> bytes:
    """A strong ETag of the body: its hash, quoted."""
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Whether an If-None-Match header names `etag` (a weak form of it included), or is `*`."""
    if if_none_match.strip() == b"*":
        return True
    candidates = [tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")]
    return etag in candidates


def not_modified(head: Message) -> Message:
    """The 304 for an answer whose head is `head`: its headers, the body's own aside."""
    kept = [(k, v) for k, v in head["headers"] if k not in (b"content-length", b"content-type")]
    return {"type": "http.response.start", "status": 304, "headers": kept}
