from __future__ import annotations

from fastapi import Request

from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.rate_limit import (
    STALE,
    Limit,
    Verdict,
    client_ip,
    enforce,
    normalize_path,
    route_template,
)
from app.tiers.rules import RulesCacheDep, rules_for_tier
from app.users.dependencies import OptionalUser


async def rate_limiter(
    request: Request,
    user: OptionalUser,
    session: SessionDep,
    store: RulesCacheDep,
    settings: SettingsDep,
) -> None:
    """Limit the route: `dependencies=[Depends(rate_limiter)]`.

    A signed-in caller gets their tier's limit for this path (matched on the request path,
    then on the route's template, e.g. 'api/v1/{username}/post'), else the default limit;
    an anonymous caller gets the default limit, counted per client IP.
    """
    limiter = store.limiter
    path = normalize_path(request.url.path)
    template = route_template(request)
    default = Limit(settings.DEFAULT_RATE_LIMIT_LIMIT, settings.DEFAULT_RATE_LIMIT_PERIOD)
    if user is None:
        verdict = await limiter.hit(default, f"ip:{client_ip(request)}", template)
    elif user.tier_id is None:
        verdict = await limiter.hit(default, f"user:{user.id}", template)
    else:
        identity = f"user:{user.id}"
        result: Verdict | str | None = STALE
        for reload in (False, True):
            rules, guard = await rules_for_tier(session, store, user.tier_id, reload=reload)
            limit = rules.get(path) or rules.get(template) or default
            if guard is None:
                result = await limiter.hit(limit, identity, template)
                break
            result = await limiter.hit_guarded(limit, guard, identity, template)
            if result != STALE:
                break
        if result == STALE:  # the rules changed twice during this request: count unguarded
            result = await limiter.hit(limit, identity, template)
        verdict = result if isinstance(result, Verdict) else None
    await enforce(request, verdict)
