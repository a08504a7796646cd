"""The request observer (core/observe.py): every answered request is reported to the one a
collector installed (metrics/ counts requests and their durations by route template and
status), also those the edge answered itself; the paths it leaves unmeasured (scrapes,
probes) are not. Without a collector there is no observer, and nothing is reported."""

from __future__ import annotations

from starlette.types import Scope

from app.core.observe import RequestObserver


def start(observer: RequestObserver | None, path: str) -> RequestObserver | None:
    """The observer of a request to `path`, which now counts it in flight; None when it is
    not observed. Each request it returns is to be reported with `finish`."""
    if observer is None or path in observer.unmeasured:
        return None
    observer.in_flight += 1
    return observer


def finish(
    observer: RequestObserver, scope: Scope, template: str | None, status: int, seconds: float
) -> None:
    """Report an answered request, once the app has returned: Starlette has put the matched
    route in the scope by then. `template`: the route's, when the edge answered without
    routing (a cache hit)."""
    observer.in_flight -= 1
    observer.observe(scope, template, status, seconds)
