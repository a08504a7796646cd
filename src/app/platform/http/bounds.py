"""The request's head within bounds, before its body is read: a clean URL (no NUL character,
which the database's text cannot hold), a declared body length within MAX_REQUEST_BODY_BYTES
(413), and at most MAX_REQUEST_HEADERS headers (431). The servers bound the headers too; this
covers a smaller setting than Granian's fixed 100."""

from __future__ import annotations

from starlette.types import Scope

from app.platform.http.replies import BODY_TOO_LARGE, Refusal

NUL_IN_URL = Refusal(400, "NUL characters are not allowed in the URL")
TOO_MANY_HEADERS = Refusal(431, "Too many request headers")


def check(
    scope: Scope, length: bytes | None, max_body_bytes: int, max_headers: int
) -> Refusal | None:
    """The refusal of a request with this scope and Content-Length (None: none sent), in this
    order: NUL in the URL, a length that is not a number or is above `max_body_bytes`, more
    than `max_headers` headers; None when it is within bounds."""
    query: bytes = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query:
        return NUL_IN_URL
    if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
        return BODY_TOO_LARGE
    if len(scope["headers"]) > max_headers:
        return TOO_MANY_HEADERS
    return None
