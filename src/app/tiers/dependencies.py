from __future__ import annotations

from fastapi import Request

from app.auth.dependencies import OptionalUser
from app.core.cache import CacheDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.rate_limit import (
    Limit,
    RateLimiterDep,
    client_ip,
    enforce,
    normalize_path,
    route_template,
)
from app.tiers.rules import rules_for_tier


async def rate_limiter(
    request: Request,
    user: OptionalUser,
    session: SessionDep,
    limiter: RateLimiterDep,
    cache: CacheDep,
    settings: SettingsDep,
) -> None:
    """Limit the route: `dependencies=[Depends(rate_limiter)]`.

    A signed-in caller gets their tier's limit for this path (matched on the request path,
    then on the route's template, e.g. 'api/v1/{username}/post'), else the default limit;
    an anonymous caller gets the default limit, counted per client IP.
    """
    path = normalize_path(request.url.path)
    template = route_template(request)
    limit = Limit(settings.DEFAULT_RATE_LIMIT_LIMIT, settings.DEFAULT_RATE_LIMIT_PERIOD)
    if user is None:
        identity = f"ip:{client_ip(request)}"
    else:
        identity = f"user:{user.id}"
        if user.tier_id is not None:
            rules = await rules_for_tier(session, cache, user.tier_id)
            limit = rules.get(path) or rules.get(template) or limit
    await enforce(request, await limiter.hit(limit, identity, template))
