"""Who may read the metrics, `GET /metrics` on the app, and the worker's own endpoint."""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from fastapi import FastAPI, Request, Response
from prometheus_client import REGISTRY, make_wsgi_app
from starlette.exceptions import HTTPException

from app.core.config import Environment, Settings
from app.core.errors import Unauthorized
from app.metrics.prometheus import METRICS_PATH, exposition
from app.metrics.settings import MetricsSettings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("app.metrics")


def _bearer_matches(authorization: str | None, token: bytes) -> bool:
    scheme, _, value = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token)


def refusal(settings: Settings, authorization: str | None) -> int | None:
    """Why a scrape is refused, as a status (None: allowed). With METRICS_TOKEN set, a scrape
    must bring it as a bearer token (401 without, 404 in production, which shows nothing);
    without one, production answers 404 and local and staging are open."""
    production = settings.ENVIRONMENT is Environment.PRODUCTION
    token = settings.feature(MetricsSettings).METRICS_TOKEN
    if token is None:
        return 404 if production else None
    if _bearer_matches(authorization, token.get_secret_value().encode()):
        return None
    return 404 if production else 401


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Serve `GET /metrics` (outside /api/v1, not rate limited, not cached, not in the
    OpenAPI schema) when METRICS_ENABLED."""
    if not settings.feature(MetricsSettings).METRICS_ENABLED:
        return

    @app.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        refused = refusal(settings, request.headers.get("authorization"))
        if refused == 404:
            raise HTTPException(404)  # the answer of a path that does not exist
        if refused is not None:
            raise Unauthorized("A valid metrics token is required")
        body, content_type = exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def serve_worker_metrics(settings: Settings) -> WSGIServer | None:
    """The worker's metrics at http://WORKER_METRICS_HOST:WORKER_METRICS_PORT/metrics (in a
    thread of its own; None when WORKER_METRICS_PORT is 0 or METRICS_ENABLED is off), with
    the same token rule as /metrics. prometheus_client's WSGI app, as its start_http_server
    serves it, behind the token check."""
    own = settings.feature(MetricsSettings)
    if not own.METRICS_ENABLED or not own.WORKER_METRICS_PORT:
        return None
    exporter = make_wsgi_app(REGISTRY)

    def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refused = refusal(settings, environ.get("HTTP_AUTHORIZATION"))
        if refused is None:
            body: Iterable[bytes] = exporter(environ, start_response)
            return body
        headers = [("Content-Type", "application/json")]
        if refused == 401:
            headers.append(("WWW-Authenticate", "Bearer"))
            start_response("401 Unauthorized", headers)
            return [b'{"detail": "A valid metrics token is required"}']
        start_response("404 Not Found", headers)
        return [b'{"detail": "Not Found"}']

    server = make_server(
        own.WORKER_METRICS_HOST,
        own.WORKER_METRICS_PORT,
        guarded,
        server_class=_Server6 if ":" in own.WORKER_METRICS_HOST else _Server,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info(
        "worker metrics at http://%s:%d%s",
        own.WORKER_METRICS_HOST,
        server.server_port,
        METRICS_PATH,
    )
    return server
