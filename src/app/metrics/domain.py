"""Prometheus metrics, as a feature: what it adds to the app, the worker and `app serve`.

Every hook below imports prometheus_client's side (prometheus.py, endpoint.py) only when it
runs, in a process that serves: importing this module (as `app.domains` does, in every process,
`app serve`'s parent included) must not choose prometheus_client's mode (directory.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from app.core.config import ConfigError, Settings
from app.core.domain import Domain
from app.core.observe import Collector
from app.core.state import Resources
from app.metrics.directory import MULTIPROC_ENV, metrics_directory
from app.metrics.settings import MetricsSettings


def _enabled(settings: Settings) -> bool:
    return settings.feature(MetricsSettings).METRICS_ENABLED


def prometheus_collector(settings: Settings) -> Collector | None:
    """The counters behind core/observe.py's hooks, and the request figures."""
    if not _enabled(settings):
        return None
    from app.metrics.prometheus import COLLECTOR

    return COLLECTOR


def install_endpoint(app: FastAPI, settings: Settings) -> None:
    """`GET /metrics` on the app."""
    if _enabled(settings):
        from app.metrics.endpoint import install_metrics

        install_metrics(app, settings)


def process_gauges(resources: Resources) -> AbstractAsyncContextManager[None]:
    """The pool and in-flight gauges of a process that serves (the app, the worker)."""
    if not _enabled(resources.settings):
        return contextlib.nullcontext()
    from app.metrics.prometheus import process_gauges

    return process_gauges(resources.engine)


@contextlib.contextmanager
def worker_endpoint(settings: Settings) -> Iterator[None]:
    """`app worker`'s own endpoint (WORKER_METRICS_PORT) while it runs."""
    # One process: its values live in its memory, never in a directory that `app serve`
    # processes on this machine may share (they would be reported twice). Before anything
    # imports prometheus_client, which reads the variable then.
    os.environ.pop(MULTIPROC_ENV, None)
    own = settings.feature(MetricsSettings)
    if not own.METRICS_ENABLED or not own.WORKER_METRICS_PORT:
        yield
        return
    from app.metrics.endpoint import serve_worker_metrics

    try:
        server = serve_worker_metrics(settings)
    except OSError as exc:
        where = f"{own.WORKER_METRICS_HOST}:{own.WORKER_METRICS_PORT}"
        raise ConfigError(f"cannot serve the worker's metrics on {where}: {exc}") from None
    try:
        yield
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


domain = Domain(
    name="metrics",
    settings=MetricsSettings,
    collectors=(prometheus_collector,),
    on_app=install_endpoint,
    lifespan=process_gauges,
    on_serve=metrics_directory,
    on_worker=worker_endpoint,
)
