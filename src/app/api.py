"""The `/api/v1` router: every domain's router, from `app.domains`; and the words of its paths
that no username may be."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from starlette.routing import BaseRoute

from app.core.routing import path_words
from app.domains import DOMAINS

API_PREFIX = "/api/v1"
# The path parameter that names a user: `/{username}/posts`, `/user/{username}`.
USERNAME_PARAMETER = "username"


def _starts_with_parameter(router: APIRouter) -> bool:
    return any(getattr(route, "path", "").startswith("/{") for route in router.routes)


def build_api_router() -> APIRouter:
    api_router = APIRouter(prefix=API_PREFIX)
    routers = [domain.router for domain in DOMAINS if domain.router is not None]
    # Routers whose paths start with a fixed segment are tried before those with paths that
    # start with a free one (`/{username}/posts`), whatever the order of the domains.
    for router in sorted(routers, key=_starts_with_parameter):
        api_router.include_router(router)
    return api_router


def api_path_words(routes: Sequence[BaseRoute]) -> frozenset[str]:
    """The words of the API's paths that a username must not be (`core.routing.path_words`):
    a user named `roles` would have their posts at `/api/v1/roles/posts`, where the roles API
    answers. Computed from the routes served, so a domain added or deleted counts at once."""
    return path_words(routes, API_PREFIX, USERNAME_PARAMETER)
