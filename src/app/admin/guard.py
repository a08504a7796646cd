"""The admin panel's own ASGI layer (on the panel's sub-app only): cross-site request forgery
refused by origin, and pages that are neither cached nor framed.

SQLAdmin has no CSRF tokens. Its cookie is SameSite=strict, and on top of that every write
(POST, PUT, PATCH, DELETE), and every GET of a custom action (soft delete, revoke: SQLAdmin
makes them links), must come from the panel's own origin: its `Origin` header, or its
`Referer` when a browser sends no `Origin`, must be the request's own scheme://host[:port]
(OWASP's "verifying origin with standard headers"). A request that carries neither is refused.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ACTION = re.compile(r"/action/[^/]+/?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PAGE_HEADERS = (
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    # Same-origin requests keep their Referer (the check falls back on it); others get none.
    ("referrer-policy", "same-origin"),
)
REFUSED = "Cross-origin request refused: the admin panel accepts changes from its own pages only"


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for anything else ("null" included)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def needs_origin_check(scope: Scope) -> bool:
    method: str = scope["method"]
    return method in _UNSAFE or (method == "GET" and bool(_ACTION.search(scope["path"])))


def same_origin(scope: Scope) -> bool:
    """Whether the request's Origin (or, without one, its Referer) is its own origin."""
    headers = Headers(scope=scope)
    host = headers.get("host")
    claimed = headers.get("origin") or headers.get("referer")
    if not host or not claimed:
        return False
    own = _origin(f"{scope['scheme']}://{host}")
    return own is not None and _origin(claimed) == own


class AdminGuard:
    """Refuses cross-origin writes with a 403, and marks every page no-store and unframeable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if needs_origin_check(scope) and not same_origin(scope):
            body = json.dumps({"detail": REFUSED}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        static = "/statics/" in scope["path"]

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not static:
                    headers.setdefault("cache-control", "no-store")
                for name, value in _PAGE_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_marked)
