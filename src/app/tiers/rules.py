"""The rate-limit rules of a tier, cached: the rate limiter reads them on every limited
request, from the cache, and from the database once per change."""

from __future__ import annotations

import contextlib
import json

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import CacheBackend, CacheUnavailable, invalidate_after_commit
from app.core.rate_limit import Limit
from app.tiers.repository import RateLimitRepository

RULES_TTL = 3600


def rules_key(tier_id: int) -> str:
    return f"rate-limit-rules:{tier_id}"


def forget_rules(session: AsyncSession, cache: CacheBackend, tier_id: int) -> None:
    """Every process sees a tier's new rules as soon as the change commits."""
    invalidate_after_commit(session, cache, [rules_key(tier_id)])


async def rules_for_tier(
    session: AsyncSession, cache: CacheBackend, tier_id: int
) -> dict[str, Limit]:
    """A tier's limits by path."""
    key = rules_key(tier_id)
    try:
        cached = await cache.get(key)
    except CacheUnavailable:
        cached = None
    if cached is not None:
        return {path: Limit(*pair) for path, pair in json.loads(cached).items()}
    limits = await RateLimitRepository(session).for_tier(tier_id)
    rules = {rl.path: Limit(rl.limit, rl.period) for rl in limits}
    with contextlib.suppress(CacheUnavailable):
        await cache.set(
            key, json.dumps({p: [r.limit, r.period] for p, r in rules.items()}).encode(), RULES_TTL
        )
    return rules
