"""The tiers' limit source (`Domain(rate_limit_source=...)`): the limit of each request to a
route that asks for per-path limits (auth/limits.py `RATE_LIMITED`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from app.auth.limits import rate_limited
from app.core.openapi import documents
from app.core.rate_limit import (
    STALE,
    Limit,
    TooManyRequests,
    Verdict,
    client_ip,
    normalize_path,
    route_template,
)
from app.core.state import get_resources
from app.tiers.repository import CALLER_TIER
from app.tiers.rules import RulesCache, rules_for_tier
from app.tiers.settings import TierSettings

# With this source installed, every route that asks for per-path limits may answer 429.
documents(429, TooManyRequests.default_detail)(rate_limited)


async def limit_request(
    request: Request, user_id: int | None, caller: Mapping[str, Any]
) -> Verdict | None:
    """A signed-in caller gets their tier's limit for this path (matched on the request path,
    then on the route's template, e.g. 'api/v1/{username}/post'), else the default limit; an
    anonymous caller gets the default limit, counted per client IP. The tier came with the
    caller (`CALLER_TIER`), and the tier's rules are the process's copy, checked in the
    limiter's one round trip: no query of its own."""
    resources = get_resources(request)
    limiter = resources.rate_limiter
    settings = resources.settings.feature(TierSettings)
    template = route_template(request)
    default = Limit(settings.DEFAULT_RATE_LIMIT_LIMIT, settings.DEFAULT_RATE_LIMIT_PERIOD)
    if user_id is None:
        return await limiter.hit(default, f"ip:{client_ip(request)}", template)
    identity = f"user:{user_id}"
    tier_id: int | None = caller.get(CALLER_TIER.name)
    if tier_id is None:
        return await limiter.hit(default, identity, template)
    path = normalize_path(request.url.path)
    store = RulesCache(resources.cache, limiter)
    result: Verdict | str | None = STALE
    for reload in (False, True):
        rules, guard = await rules_for_tier(resources.engine, store, tier_id, reload=reload)
        limit = rules.get(path) or rules.get(template) or default
        if guard is None:
            result = await limiter.hit(limit, identity, template)
            break
        result = await limiter.hit_guarded(limit, guard, identity, template)
        if result != STALE:
            break
    if result == STALE:  # the rules changed twice during this request: count unguarded
        result = await limiter.hit(limit, identity, template)
    return result if isinstance(result, Verdict) else None
