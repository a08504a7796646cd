"""The tiers' limit source (auth/limits.py `LIMIT_SOURCE`, filled by tiers' Domain): the
limit of each request to a route that asks for per-path limits (`RATE_LIMITED`)."""

from __future__ import annotations

from fastapi import Request

from app.auth.limits import rate_limited
from app.core.openapi import documents
from app.core.state import Resources
from app.platform.rate_limit import (
    STALE,
    Limit,
    TooManyRequests,
    Verdict,
    client_ip,
    normalize_path,
    route_template,
)
from app.tiers.repository import CALLER_TIER
from app.tiers.rules import RulesCache, rules_for_tier
from app.tiers.settings import TierSettings
from app.users.dependencies import Caller

# With this source installed, every route that asks for per-path limits may answer 429.
documents(429, TooManyRequests.default_detail)(rate_limited)


class TierLimits:
    """Built once per process with its resources (`Extension(LIMIT_SOURCE, TierLimits)`)."""

    __slots__ = ("default", "resources", "store")

    def __init__(self, resources: Resources) -> None:
        settings = resources.settings.feature(TierSettings)
        self.resources = resources
        self.default = Limit(settings.DEFAULT_RATE_LIMIT_LIMIT, settings.DEFAULT_RATE_LIMIT_PERIOD)
        self.store = RulesCache(resources.cache, resources.rate_limiter)

    async def __call__(self, request: Request, caller: Caller | None) -> Verdict | None:
        """A signed-in caller gets their tier's limit for this path (matched on the request
        path, then on the route's template, e.g. 'api/v1/{username}/post'), else the default
        limit; an anonymous caller gets the default limit, counted per client IP. The tier
        came with the caller (`CALLER_TIER`, a caller column), and the tier's rules are the
        process's copy, checked in the limiter's one round trip: no query of its own."""
        store = self.store
        limiter = store.limiter
        template = route_template(request)
        default = self.default
        if caller is None:
            return await limiter.hit(default, f"ip:{client_ip(request)}", template)
        identity = f"user:{caller.user.id}"
        tier_id: int | None = caller.row.get(CALLER_TIER.name)
        if tier_id is None:
            return await limiter.hit(default, identity, template)
        path = normalize_path(request.url.path)
        engine = self.resources.engine
        result: Verdict | str | None = STALE
        for reload in (False, True):
            rules, guard = await rules_for_tier(engine, store, tier_id, reload=reload)
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
