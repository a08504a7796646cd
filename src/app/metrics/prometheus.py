"""What is counted, in prometheus_client's metrics, and how it is read (`exposition`).

Exported (every name starts with `app_`):

- `app_http_requests_total` and `app_http_request_duration_seconds` (histogram) by `method`,
  `route` (the route's template, e.g. `/api/v1/{username}/post/{id}`; `<unmatched>` for a
  request that reached no route) and `status`; reported by the app's one middleware
  (platform/http/middleware.py) to `RequestMetrics`. /metrics, /health and /ready are left
  out: scrapes and probes.
- `app_http_requests_in_flight` and `app_db_pool_connections_in_use` (gauges).
- `app_cache_hits_total` and `app_cache_misses_total` by `backend` and `cache` (the key
  template of a cached endpoint, e.g. `{username}_post_cache`: never a filled-in key).
- `app_rate_limit_refusals_total` by `route`: the 429s.
- `app_jobs_total` and `app_job_duration_seconds` by `function` and `outcome` (success,
  failure, retry, cancelled), where jobs run: the worker and the embedded runner.
- `app_logins_total` by `outcome` (success, failure).

The platform reports through core/observe.py's hooks; `COLLECTOR` is what this module installs
there. prometheus_client chooses its mode (values in memory, or in files under
PROMETHEUS_MULTIPROC_DIR, one per process: `app serve`'s processes, directory.py) when it is
first imported, so this module is imported only once a process starts serving (domain.py),
never by `app serve`'s parent before it has set the variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
    values,
)
from prometheus_client.exposition import choose_encoder
from starlette.routing import BaseRoute
from starlette.types import Scope

from app.core.observe import Collector
from app.core.routing import full_path_template
from app.metrics.directory import MULTIPROC_ENV

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import Pool

METRICS_PATH: Final = "/metrics"
UNMATCHED: Final = "<unmatched>"
# Scrapes and probes: counting them would only add noise to the request figures.
UNMEASURED_PATHS: Final = frozenset({METRICS_PATH, "/health", "/ready"})
# How often each server process writes its gauges for the others (multiprocess mode only).
SAMPLE_EVERY_SECONDS: Final = 1.0
# Any other method is counted as OTHER (the label's values stay a fixed set).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The mode prometheus_client chose when it was imported: values in files, one per process.
MULTIPROCESS: Final[bool] = bool(getattr(values.ValueClass, "_multiprocess", False))
# A `_created` series beside each counter and histogram doubles the output for no use here (the
# multiprocess mode has none either).
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "app_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
REQUEST_SECONDS = Histogram(
    "app_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, by method, route and status.",
    ("method", "route", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_FLIGHT = Gauge(
    "app_http_requests_in_flight",
    "Requests being answered (waiting for admission included).",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "app_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
CACHE_HITS = Counter(
    "app_cache_hits", "Response cache lookups that found an entry.", ("backend", "cache")
)
CACHE_MISSES = Counter(
    "app_cache_misses", "Response cache lookups that found nothing.", ("backend", "cache")
)
RATE_LIMIT_REFUSALS = Counter(
    "app_rate_limit_refusals", "Requests refused with 429, by route template.", ("route",)
)
JOBS = Counter("app_jobs", "Job runs (each try), by function and outcome.", ("function", "outcome"))
JOB_SECONDS = Histogram(
    "app_job_duration_seconds",
    "Duration of each job run, by function and outcome.",
    ("function", "outcome"),
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
LOGINS = Counter("app_logins", "Logins, by outcome (success, failure).", ("outcome",))

_LOGIN_SUCCESS = LOGINS.labels("success")
_LOGIN_FAILURE = LOGINS.labels("failure")


class RequestMetrics:
    """The request figures of one app, recorded by its middleware: one counter and one
    histogram child per (method, route, status), made on first use and kept, so a request
    costs two dictionary lookups besides the increments.

        metrics = RequestMetrics(app.routes)
        metrics.observe(scope, None, 200, 0.004)   # after the response was sent
    """

    __slots__ = ("__weakref__", "_children", "_routes", "_templates", "in_flight", "unmeasured")

    def __init__(
        self, routes: Sequence[BaseRoute], unmeasured: frozenset[str] = UNMEASURED_PATHS
    ) -> None:
        self.unmeasured = unmeasured
        self.in_flight = 0
        self._templates, self._routes = _route_templates(routes)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        _REQUEST_METRICS.add(self)

    def observe(self, scope: Scope, template: str | None, status: int, seconds: float) -> None:
        """Count one answered request. `template`: the route when the caller knows it (a
        cache hit answered before routing); else read from the route Starlette matched."""
        method: str = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        if template is None:
            route = scope.get("route")
            if route is None:
                template = UNMATCHED
            else:
                template = (
                    self._templates.get(id(route))
                    or full_path_template(scope)
                    or getattr(route, "path_format", None)
                    or UNMATCHED
                )
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            label = str(status)
            children = (
                REQUESTS.labels(method, template, label),
                REQUEST_SECONDS.labels(method, template, label),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


_REQUEST_METRICS: weakref.WeakSet[RequestMetrics] = weakref.WeakSet()


def _route_templates(routes: Sequence[BaseRoute]) -> tuple[dict[int, str], list[BaseRoute]]:
    """Each route's full path template (its routers' prefixes included) by the route's id, as
    Starlette puts the route in the scope; a route included under two prefixes is left out
    (its template is worked out per request). The routes are returned too: held, their ids
    stay theirs."""
    found: dict[int, str | None] = {}
    held = []
    for context in iter_route_contexts(routes):
        template = context.path_format
        if not template:
            continue
        route = context.original_route
        key = id(route)
        if key in found and found[key] != template:
            found[key] = None
        else:
            found[key] = template
        held.append(route)
    return {key: template for key, template in found.items() if template}, held


_CACHE_COUNTERS: dict[tuple[type, str, bool], Any] = {}


def count_cache_lookup(backend: object, cache: str, hit: bool) -> None:
    """Count a lookup of the response cache: `cache` is the key template (never a key, whose
    values would make a series per user or id), the backend is named from its class."""
    key = (type(backend), cache, hit)
    counter = _CACHE_COUNTERS.get(key)
    if counter is None:
        name = type(backend).__name__.lower().removesuffix("cache") or "cache"
        counter = (CACHE_HITS if hit else CACHE_MISSES).labels(name, cache)
        _CACHE_COUNTERS[key] = counter
    counter.inc()


def count_rate_limit_refusal(route: str | None) -> None:
    """Count a 429 on `route` (its template; None: a request that matched no route)."""
    RATE_LIMIT_REFUSALS.labels(route or UNMATCHED).inc()


def count_login(success: bool) -> None:
    """Count one login by its outcome."""
    (_LOGIN_SUCCESS if success else _LOGIN_FAILURE).inc()


def observe_job(function: str, outcome: str, seconds: float) -> None:
    """Count one run of a job (see platform/queue/retry.py, which wraps every job)."""
    JOBS.labels(function, outcome).inc()
    JOB_SECONDS.labels(function, outcome).observe(seconds)


_POOLS: list[Pool] = []


def _in_flight() -> float:
    return float(sum(metrics.in_flight for metrics in list(_REQUEST_METRICS)))


def _pool_in_use() -> float:
    # QueuePool (PostgreSQL; SQLite files use the same): checked out now. Pools without the
    # count (StaticPool of an in-memory SQLite) count nothing.
    total = 0
    for pool in list(_POOLS):
        checkedout = getattr(pool, "checkedout", None)
        if callable(checkedout):
            total += int(checkedout())
    return float(total)


def sample_gauges() -> None:
    """Write this process's gauges where the scraping process reads them (multiprocess mode;
    otherwise they are read when scraped)."""
    if MULTIPROCESS:
        IN_FLIGHT.set(_in_flight())
        DB_POOL_IN_USE.set(_pool_in_use())


if not MULTIPROCESS:
    IN_FLIGHT.set_function(_in_flight)
    DB_POOL_IN_USE.set_function(_pool_in_use)


async def _sample_forever() -> None:
    while True:
        sample_gauges()
        await asyncio.sleep(SAMPLE_EVERY_SECONDS)


@contextlib.asynccontextmanager
async def process_gauges(engine: AsyncEngine) -> AsyncIterator[None]:
    """Report the engine's pool while the block runs; in multiprocess mode, also write this
    process's gauges every SAMPLE_EVERY_SECONDS (the scraping process writes its own just
    before answering).

        async with open_resources(settings) as resources, process_gauges(resources.engine):
            ...
    """
    pool = engine.pool
    _POOLS.append(pool)
    task = asyncio.create_task(_sample_forever()) if MULTIPROCESS else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        _POOLS.remove(pool)


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def _forget_dead_processes(directory: str) -> None:
    """Drop the gauges of server processes that have exited (a worker process the server
    started again): their last values would be added in forever."""
    with os.scandir(directory) as entries:
        pids = {int(m.group(1)) for e in entries if (m := _LIVE_GAUGE_FILE.match(e.name))}
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, another user's


def _registry() -> CollectorRegistry:
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def exposition(accept: str | None) -> tuple[bytes, str]:
    """Every metric, and the content type, in the format the scraper accepts (Prometheus's
    text format or OpenMetrics); in multiprocess mode the sum over the server's processes."""
    if MULTIPROCESS:
        sample_gauges()
        _forget_dead_processes(os.environ[MULTIPROC_ENV])
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_registry()), content_type


COLLECTOR: Final = Collector(
    cache_lookup=count_cache_lookup,
    login=count_login,
    rate_limited=count_rate_limit_refusal,
    job_run=observe_job,
    requests=RequestMetrics,
    scrape_paths=frozenset({METRICS_PATH}),
)
