"""One line per answered request in the `app.access` log, with the status the client
got (499 when it went away before an answer, as nginx's log says) and the time the request
took in the app's hands. The client's address is the one the server saw, or the one a
trusted proxy forwarded (ProxyHeadersMiddleware runs in front)."""

from __future__ import annotations

import logging

from starlette.types import Scope

access_logger = logging.getLogger("app.access")


def log_access(scope: Scope, status: int, seconds: float) -> None:
    """Log the answered request: method, path, status, duration and client address, in the
    message and as the record's fields (the JSON log's keys)."""
    duration_ms = round(seconds * 1000, 1)
    client = scope.get("client")
    address = client[0] if client else None
    access_logger.info(
        "%s %s %s %.1fms from %s",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        address or "-",
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": duration_ms,
            "client": address,
        },
    )
