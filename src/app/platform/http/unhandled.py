"""The answer to an error nothing else handled (core/errors.py `unhandled_error`: a 503 with
Retry-After when the database is unavailable, else a 500): logged once, inside the request (so
that the log line has its id), and never raised to the server, which would log it again and
close the client's connection."""

from __future__ import annotations

from starlette.types import Scope

from app.core.errors import unhandled_error
from app.platform.http.exchange import Exchange
from app.platform.http.replies import reply


async def answer(exc: Exception, scope: Scope, exchange: Exchange) -> None:
    """Log `exc` once and answer it, with a complete response so that the connection stays
    open. A response already started cannot be replaced: the server, seeing it unfinished,
    closes the connection."""
    status, detail, headers = unhandled_error(exc, scope["method"], scope["path"])
    if exchange.started:
        return
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await reply(exchange.send, status, detail, extra, close=False)
