"""The route a request matched, as a template: what the rate limits and the metrics key on."""

from __future__ import annotations

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
