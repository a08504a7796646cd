"""The `/api/v1` router: every domain's router, from `app.domains`."""

from __future__ import annotations

from fastapi import APIRouter

from app.domains import DOMAINS


def _starts_with_parameter(router: APIRouter) -> bool:
    return any(getattr(route, "path", "").startswith("/{") for route in router.routes)


def build_api_router() -> APIRouter:
    api_router = APIRouter(prefix="/api/v1")
    routers = [domain.router for domain in DOMAINS if domain.router is not None]
    # Routers whose paths start with a fixed segment are tried before those with paths that
    # start with a free one (`/{username}/posts`), whatever the order of the domains.
    for router in sorted(routers, key=_starts_with_parameter):
        api_router.include_router(router)
    return api_router
