"""The rate-limit rules of a tier, cached: the rate limiter reads them on every limited
request. Each process keeps them with the version they were read at (`RateLimiter.memo`); the
limiter's one script call per request checks that version in the same round trip as the count
(`RateLimiter.hit_guarded`), so a change applies at once in every process and an unchanged
tier costs no extra round trip. Behind the process's copy: the shared cache, then the
database, read once per change."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import Db
from app.core.state import get_resources
from app.platform.cache import CacheBackend, CacheUnavailable, invalidate_after_commit
from app.platform.rate_limit import Guard, Limit, RateLimiter
from app.tiers.repository import tier_rules

RULES_TTL = 3600
Rules = dict[str, Limit]


def rules_key(tier_id: int) -> str:
    return f"rate-limit-rules:{tier_id}"


def version_key(tier_id: int) -> str:
    return f"rate-limit-rules-version:{tier_id}"


@dataclass(frozen=True, slots=True)
class RulesCache:
    """Where the rules are kept: the shared cache, and the limiter (versions, and each
    process's copies)."""

    cache: CacheBackend
    limiter: RateLimiter


async def get_rules_cache(request: Request) -> RulesCache:
    resources = get_resources(request)
    return RulesCache(resources.cache, resources.rate_limiter)


RulesCacheDep = Annotated[RulesCache, Depends(get_rules_cache)]


def forget_rules(db: Db, rules: RulesCache, tier_id: int) -> None:
    """Every process applies a tier's new rules from its next request once the change commits:
    the shared copy goes first, then the version moves on."""
    invalidate_after_commit(db, rules.cache, [rules_key(tier_id)])

    async def new_version() -> None:
        await rules.limiter.bump(version_key(tier_id))

    db.after_commit(new_version)


async def rules_for_tier(
    engine: AsyncEngine, store: RulesCache, tier_id: int, *, reload: bool = False
) -> tuple[Rules, Guard | None]:
    """A tier's limits by path, and the guard to count them under (None when the limiter's
    storage is unreachable: it then limits nothing anyway)."""
    limiter = store.limiter
    key = rules_key(tier_id)
    kept = None if reload else limiter.memo.get(key)
    if kept is not None:
        return cast(Rules, kept[1]), kept[0]
    # The version is read before the rules: rules newer than it are only reloaded once more.
    version = await limiter.version(version_key(tier_id))
    rules = await _load(engine, store.cache, tier_id)
    if version is None:
        limiter.memo.pop(key, None)
        return rules, None
    guard = Guard(version_key(tier_id), version)
    if len(limiter.memo) >= 10_000:
        limiter.memo.clear()
    limiter.memo[key] = (guard, rules)
    return rules, guard


async def _load(engine: AsyncEngine, cache: CacheBackend, tier_id: int) -> Rules:
    key = rules_key(tier_id)
    try:
        cached = await cache.get(key)
    except CacheUnavailable:
        cached = None
    if cached is not None:
        return {path: Limit(*pair) for path, pair in json.loads(cached).items()}
    rules = {
        path: Limit(limit, period) for path, limit, period in await tier_rules(engine, tier_id)
    }
    with contextlib.suppress(CacheUnavailable):
        await cache.set(
            key, json.dumps({p: [r.limit, r.period] for p, r in rules.items()}).encode(), RULES_TTL
        )
    return rules
