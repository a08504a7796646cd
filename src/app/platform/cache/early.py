"""Answering cache hits before routing: for GET endpoints cached with `serve_hits_early=True`,
the app's middleware looks the key up (`early_hit`) and answers a hit without FastAPI's
routing and dependency resolution. The routes are read once, from the app's routes, at
start-up (`early_routes`)."""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import Scope

from app.core.observe import hooks
from app.core.state import resources_of
from app.platform.cache.backends import CacheUnavailable
from app.platform.cache.decorator import EARLY_ATTRIBUTE, EarlySpec, fill, placeholders

logger = logging.getLogger("app.platform.cache")

_REQUIRED = object()
# Query values the early path trusts: a raw value that names a stored key is the very string
# FastAPI turned into that key, so it stands for the same parameter value. "None" is left to
# FastAPI (as a string it is not the absent value).
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.~=-]{1,256}$")


@dataclass(frozen=True, slots=True)
class EarlyRoute:
    """A cached GET route: its full path as a regex, and how to build its key."""

    path: str
    pattern: re.Pattern[str]
    key_prefix: str
    id_name: str
    query_defaults: dict[str, object]

    def key_for(self, path_values: dict[str, str], query_string: bytes) -> str | None:
        values: dict[str, object] = dict(path_values)
        given = urllib.parse.parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        for name, value in given:
            if name not in self.query_defaults or name in values:
                return None
            if value == "None" or not _PLAIN_VALUE.match(value):
                return None
            values[name] = value
        for name, default in self.query_defaults.items():
            if name not in values:
                if default is _REQUIRED:
                    return None
                values[name] = default
        return f"{fill(self.key_prefix, values)}:{values[self.id_name]}"


def _early_route(path: str, spec: EarlySpec) -> EarlyRoute:
    parts = re.split(r"\{(\w+)\}", path)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    path_names = set(parts[1::2])
    query_defaults = {
        name: spec.defaults.get(name, _REQUIRED)
        for name in placeholders(spec.key_prefix) | {spec.id_name}
        if name not in path_names
    }
    return EarlyRoute(path, re.compile(regex), spec.key_prefix, spec.id_name, query_defaults)


def early_routes(routes: Sequence[BaseRoute]) -> list[EarlyRoute]:
    """The app's GET routes whose cache hits may be answered before routing (included
    routers are walked with their prefixes and their routers' dependencies)."""
    found = []
    for route in iter_route_contexts(routes):
        spec = getattr(route.endpoint, EARLY_ATTRIBUTE, None)
        if not isinstance(spec, EarlySpec) or route.path is None:
            continue
        if route.methods != {"GET"}:
            raise ValueError(f"{route.path}: serve_hits_early is for GET routes only")
        if getattr(route, "dependencies", None):
            logger.warning(
                "%s has route dependencies: its cache hits go the normal way", route.path
            )
            continue
        found.append(_early_route(route.path, spec))
    return found


async def early_hit(routes: Sequence[EarlyRoute], scope: Scope) -> tuple[str, bytes] | None:
    """The route's path template and the cached body, for a GET of an early route when the
    entry is there; None for everything else (misses, unknown query parameters, an unreachable
    cache), which goes on to the app unchanged (a miss is counted there, by the route). Called
    by the app's middleware (platform/http/middleware.py) before routing, for anonymous
    requests only (it has read the headers already)."""
    path: str = scope["path"]
    for route in routes:
        match = route.pattern.fullmatch(path)
        if match is not None:
            key = route.key_for(match.groupdict(), scope.get("query_string", b""))
            break
    else:
        return None
    if key is None:
        return None
    backend = resources_of(scope["app"]).cache
    try:
        body = await backend.get(key)
    except CacheUnavailable:
        return None
    if body is None:
        return None
    hooks.cache_lookup(backend, route.key_prefix, True)
    return route.path, body
