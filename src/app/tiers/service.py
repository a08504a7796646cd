"""Tiers and their per-path rate limits; the rules the rate limiter applies."""

from __future__ import annotations

import contextlib
import functools
import json
from typing import Any

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import CacheBackend, CacheUnavailable, invalidate_now
from app.core.db import after_commit
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.pagination import PageParams
from app.core.rate_limit import Limit
from app.tiers.models import RateLimit, Tier
from app.tiers.repository import TierRepository
from app.tiers.schemas import (
    RateLimitCreate,
    RateLimitRead,
    RateLimitUpdate,
    TierCreate,
    TierRead,
    TierUpdate,
    UserTierRead,
)
from app.users import service as users
from app.users.models import User

TIER_NOT_FOUND = "Tier not found"
RULES_TTL = 3600


def rules_key(tier_id: int) -> str:
    return f"rate-limit-rules:{tier_id}"


async def _forget_rules(request: Request, cache: CacheBackend, tier_id: int) -> None:
    """Every process sees a tier's new rules as soon as the change commits."""
    await after_commit(request, functools.partial(invalidate_now, cache, [rules_key(tier_id)]))


async def rules_for_tier(
    session: AsyncSession, cache: CacheBackend, tier_id: int
) -> dict[str, Limit]:
    """A tier's limits by path, from the cache; from the database once per change."""
    key = rules_key(tier_id)
    try:
        cached = await cache.get(key)
    except CacheUnavailable:
        cached = None
    if cached is not None:
        return {path: Limit(*pair) for path, pair in json.loads(cached).items()}
    limits = await TierRepository(session).all_limits(tier_id)
    rules = {rl.path: Limit(rl.limit, rl.period) for rl in limits}
    with contextlib.suppress(CacheUnavailable):
        await cache.set(
            key, json.dumps({p: [r.limit, r.period] for p, r in rules.items()}).encode(), RULES_TTL
        )
    return rules


async def get_tier(session: AsyncSession, name: str) -> Tier:
    tier = await TierRepository(session).get_by_name(name)
    if tier is None:
        raise NotFound(TIER_NOT_FOUND)
    return tier


async def create_tier(session: AsyncSession, data: TierCreate) -> Tier:
    repo = TierRepository(session)
    if await repo.name_taken(data.name):
        raise Conflict("Tier name is already taken")
    tier = Tier(name=data.name)
    try:
        await repo.add(tier)
    except IntegrityError:
        raise Conflict("Tier name is already taken") from None
    return tier


async def list_tiers(session: AsyncSession, page: PageParams) -> dict[str, Any]:
    tiers, total = await TierRepository(session).list(page.offset, page.items_per_page)
    return page.respond([TierRead.model_validate(t) for t in tiers], total)


async def update_tier(session: AsyncSession, name: str, data: TierUpdate) -> Tier:
    repo = TierRepository(session)
    tier = await get_tier(session, name)
    if data.name != tier.name and await repo.name_taken(data.name):
        raise Conflict("Tier name is already taken")
    tier.name = data.name
    try:
        await repo.flush()
    except IntegrityError:
        raise Conflict("Tier name is already taken") from None
    return tier


async def delete_tier(
    session: AsyncSession, request: Request, cache: CacheBackend, name: str
) -> None:
    repo = TierRepository(session)
    tier = await get_tier(session, name)
    users_on = await repo.users_on(tier)
    if users_on:
        raise Conflict(f"Tier is still assigned to {users_on} user(s); move them first")
    try:
        await repo.delete(tier)
    except IntegrityError:
        raise Conflict("Tier is still assigned to users; move them first") from None
    await _forget_rules(request, cache, tier.id)


def _limit_conflict(field: str) -> Conflict:
    return Conflict(f"This tier already has a rate limit with that {field}")


async def create_rate_limit(
    session: AsyncSession,
    request: Request,
    cache: CacheBackend,
    tier_name: str,
    data: RateLimitCreate,
) -> RateLimit:
    repo = TierRepository(session)
    tier = await get_tier(session, tier_name)
    name = data.name or data.path
    field = await repo.limit_conflicts(tier.id, name=name, path=data.path)
    if field:
        raise _limit_conflict(field)
    rate_limit = RateLimit(
        tier_id=tier.id, name=name, path=data.path, limit=data.limit, period=data.period
    )
    try:
        await repo.add(rate_limit)
    except IntegrityError:
        raise Conflict("This tier already has that rate limit") from None
    await _forget_rules(request, cache, tier.id)
    return rate_limit


async def list_rate_limits(
    session: AsyncSession, tier_name: str, page: PageParams
) -> dict[str, Any]:
    tier = await get_tier(session, tier_name)
    limits, total = await TierRepository(session).list_limits(
        tier.id, page.offset, page.items_per_page
    )
    return page.respond([RateLimitRead.model_validate(rl) for rl in limits], total)


async def get_rate_limit(session: AsyncSession, tier_name: str, limit_id: int) -> RateLimit:
    tier = await get_tier(session, tier_name)
    rate_limit = await TierRepository(session).get_limit(tier, limit_id)
    if rate_limit is None:
        raise NotFound("Rate limit not found")
    return rate_limit


async def update_rate_limit(
    session: AsyncSession,
    request: Request,
    cache: CacheBackend,
    tier_name: str,
    limit_id: int,
    data: RateLimitUpdate,
) -> RateLimit:
    repo = TierRepository(session)
    rate_limit = await get_rate_limit(session, tier_name, limit_id)
    changes = data.model_dump(exclude_unset=True)
    field = await repo.limit_conflicts(
        rate_limit.tier_id,
        name=changes.get("name"),
        path=changes.get("path"),
        exclude_id=rate_limit.id,
    )
    if field:
        raise _limit_conflict(field)
    for attr, value in changes.items():
        setattr(rate_limit, attr, value)
    try:
        await repo.flush()
    except IntegrityError:
        raise Conflict("This tier already has that rate limit") from None
    await _forget_rules(request, cache, rate_limit.tier_id)
    return rate_limit


async def delete_rate_limit(
    session: AsyncSession, request: Request, cache: CacheBackend, tier_name: str, limit_id: int
) -> None:
    rate_limit = await get_rate_limit(session, tier_name, limit_id)
    await TierRepository(session).delete(rate_limit)
    await _forget_rules(request, cache, rate_limit.tier_id)


async def _visible_user(session: AsyncSession, actor: User, username: str) -> User:
    user = await users.get_user(session, username)
    if user.id != actor.id and not actor.is_superuser:
        raise Forbidden("Only that user or a superuser may see this")
    return user


async def get_user_tier(session: AsyncSession, actor: User, username: str) -> UserTierRead:
    user = await _visible_user(session, actor, username)
    tier = await TierRepository(session).get(user.tier_id) if user.tier_id else None
    return UserTierRead(
        username=user.username, tier=TierRead.model_validate(tier) if tier else None
    )


async def set_user_tier(session: AsyncSession, username: str, tier_id: int) -> UserTierRead:
    user = await users.get_user(session, username)
    tier = await TierRepository(session).get(tier_id)
    if tier is None:
        raise NotFound(TIER_NOT_FOUND)
    user.tier_id = tier.id
    try:
        await session.flush()
    except IntegrityError:  # the tier was deleted meanwhile
        raise NotFound(TIER_NOT_FOUND) from None
    return UserTierRead(username=user.username, tier=TierRead.model_validate(tier))


async def get_user_rate_limits(
    session: AsyncSession, actor: User, username: str
) -> list[RateLimitRead]:
    user = await _visible_user(session, actor, username)
    if user.tier_id is None:
        return []
    limits = await TierRepository(session).all_limits(user.tier_id)
    return [RateLimitRead.model_validate(rl) for rl in limits]


async def ensure_tier(session: AsyncSession, name: str) -> bool:
    """Create the tier unless it exists; True when created."""
    if await TierRepository(session).name_taken(name):
        return False
    await create_tier(session, TierCreate(name=name))
    return True
