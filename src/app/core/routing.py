"""Routes as data: the template of the route a request matched (what the rate limits and the
metrics key on), and the words of the paths that a path parameter must not take."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import Scope


def full_path_template(scope: Scope) -> str | None:
    """The matched route's path template with its routers' prefixes, e.g.
    '/api/v1/{username}/post'; None when the request matched no route (or the template does
    not fit its path)."""
    path_format: str | None = getattr(scope.get("route"), "path_format", None)
    if not path_format:
        return None
    # The route knows only its own part of the path; the routers' prefixes are what the
    # request path has in front of that part.
    try:
        concrete = path_format.format(**scope.get("path_params", {}))
    except (KeyError, IndexError, ValueError):
        return None
    path: str = scope["path"]
    prefix = path[: len(path) - len(concrete)] if path.endswith(concrete) else ""
    return prefix + path_format


def _parameter_name(segment: str) -> str | None:
    """`username` for `{username}` (or `{username:str}`); None for a fixed segment."""
    if segment.startswith("{") and segment.endswith("}"):
        return segment[1:-1].partition(":")[0]
    return None


def _same_beginning(a: list[str], b: list[str]) -> bool:
    """Whether two paths' first segments read alike: equal fixed segments, or parameters."""
    return all(
        x == y or (_parameter_name(x) is not None and _parameter_name(y) is not None)
        for x, y in zip(a, b, strict=True)
    )


def path_words(routes: Sequence[BaseRoute], prefix: str, parameter: str) -> frozenset[str]:
    """The fixed path segments under `prefix` that a value of the path parameter `parameter`
    could be mistaken for, lower-cased: the first segment of every path, and every fixed
    segment that stands where another path of the same beginning has `{parameter}`. A value
    equal to one of them would reach another route than its own.

        path_words(app.routes, "/api/v1", "username")
        # {"users", "user", "login", "roles", "tiers", ..., "me" (from /user/me/)}
    """
    paths = []
    for route in iter_route_contexts(routes):
        path = route.path or ""
        if path.startswith(prefix + "/"):
            paths.append([s for s in path.removeprefix(prefix).split("/") if s])
    words = {p[0] for p in paths if p and _parameter_name(p[0]) is None}
    for a in paths:
        for i, segment in enumerate(a):
            if _parameter_name(segment) != parameter:
                continue
            words.update(
                b[i]
                for b in paths
                if len(b) > i and _parameter_name(b[i]) is None and _same_beginning(a[:i], b[:i])
            )
    return frozenset(word.lower() for word in words)
