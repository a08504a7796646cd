"""What the platform reports as it works, for whichever collector is installed: the hooks the
cache, the rate limiter, the job wrappers and the login route call, and the request observer
the app's middleware reports every answered request to.

A collector (metrics/ is one) is declared in its `Domain(collectors=...)` and installed when a
process starts serving (the app factory, the worker). With none installed, each hook is a
call to a function that does nothing, and the middleware has no request observer at all.

    hooks.cache_lookup(backend, "{username}_posts", hit=True)
    hooks.job_run("purge_deleted_posts", "success", 0.012)

The hooks are process-wide, as Prometheus's registry is, and installing is additive: a process
that builds a second app (the tests do) keeps what the first installed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from starlette.routing import BaseRoute
from starlette.types import Scope

from app.core.errors import AppError


class RequestObserver(Protocol):
    """The middleware's observer of answered requests (platform/http/middleware.py), kept as
    cheap as the per-request path needs: a set lookup, a counter and one call."""

    # Paths that are not observed (scrapes, probes).
    unmeasured: frozenset[str]
    # Requests being answered now; the middleware adds and takes away one per request.
    in_flight: int

    def observe(self, scope: Scope, template: str | None, status: int, seconds: float) -> None:
        """One answered request. `template`: the route's, when the middleware answered
        without routing (a cache hit); None: the one Starlette matched, from the scope."""


@dataclass(frozen=True, slots=True)
class Collector:
    """What one collector observes; a hook left None is not reported to it.

    Collector(cache_lookup=count_lookup, job_run=count_job, requests=RequestFigures)
    """

    # (the cache backend, the cache's key template, whether it was a hit)
    cache_lookup: Callable[[object, str, bool], None] | None = None
    # (whether the login succeeded)
    login: Callable[[bool], None] | None = None
    # (the refused request's route template; None: it matched no route)
    rate_limited: Callable[[str | None], None] | None = None
    # (the job's function name, its outcome: success, failure, retry or cancelled, seconds)
    job_run: Callable[[str, str, float], None] | None = None
    # The request observer of one app, built from its routes.
    requests: Callable[[Sequence[BaseRoute]], RequestObserver] | None = None
    # Paths a scraper reaches by an internal name: the Host allow-list lets them through.
    scrape_paths: frozenset[str] = frozenset()


# What the hooks are named after: Collector's fields that are called with a report.
_HOOKS = ("cache_lookup", "login", "rate_limited", "job_run")


def _nothing(*args: object) -> None:
    """A hook with no collector behind it."""


def _fan_out(functions: Sequence[Callable[..., None]]) -> Callable[..., None]:
    if len(functions) == 1:
        return functions[0]

    def every(*args: Any) -> None:
        for function in functions:
            function(*args)

    return every


class Hooks:
    """The process's hooks, one attribute each (read at every call, so installing reaches
    callers that imported `hooks` earlier)."""

    __slots__ = ("_installed", *_HOOKS)

    cache_lookup: Callable[[object, str, bool], None]
    login: Callable[[bool], None]
    rate_limited: Callable[[str | None], None]
    job_run: Callable[[str, str, float], None]

    def __init__(self) -> None:
        self._installed: dict[str, list[Callable[..., None]]] = {name: [] for name in _HOOKS}
        for name in _HOOKS:
            setattr(self, name, _nothing)

    def install(self, collectors: Iterable[Collector]) -> None:
        """Route each hook to these collectors too (a function already installed stays
        once)."""
        for collector in collectors:
            for name in _HOOKS:
                function = getattr(collector, name)
                installed = self._installed[name]
                if function is not None and function not in installed:
                    installed.append(function)
                    setattr(self, name, _fan_out(tuple(installed)))


hooks = Hooks()


def request_observer(
    collectors: Sequence[Collector], routes: Sequence[BaseRoute]
) -> RequestObserver | None:
    """The one request observer of an app with these routes (None: nobody observes them).
    The middleware keeps one in its hot path; two collectors that both want requests are
    refused rather than chained there."""
    makers = [collector.requests for collector in collectors if collector.requests is not None]
    if len(makers) > 1:
        raise ValueError("more than one collector observes requests; install one of them")
    return makers[0](routes) if makers else None


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def reports_logins(endpoint: F) -> F:
    """Report the endpoint's outcomes as logins (`hooks.login`): a return is a success, a 401
    or 403 (wrong credentials, an unverified address) a failure. A 429 is refused before the
    endpoint runs, and reported as a rate-limit refusal.

        @router.post("/login")
        @reports_logins
        async def login(...) -> Token: ...
    """

    @functools.wraps(endpoint)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await endpoint(*args, **kwargs)
        except AppError as exc:
            if exc.status_code in (401, 403):
                hooks.login(False)
            raise
        hooks.login(True)
        return result

    return wrapper  # type: ignore[return-value]
