"""Tiers and their per-path rate limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import integrity_error_as
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.pagination import PageParams
from app.tiers.models import RateLimit, Tier
from app.tiers.repository import RateLimitRepository, TierRepository
from app.tiers.rules import RulesCache, forget_rules
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
from app.users.service import Viewer

TIER_NOT_FOUND = "Tier not found"
NAME_TAKEN = "Tier name is already taken"
LIMIT_TAKEN = "This tier already has that rate limit"


async def get_tier(session: AsyncSession, name: str) -> Tier:
    tier = await TierRepository(session).get_by_name(name)
    if tier is None:
        raise NotFound(TIER_NOT_FOUND)
    return tier


async def create_tier(session: AsyncSession, data: TierCreate) -> Tier:
    repo = TierRepository(session)
    if await repo.name_taken(data.name):
        raise Conflict(NAME_TAKEN)
    with integrity_error_as(NAME_TAKEN):
        return await repo.add(Tier(name=data.name))


async def list_tiers(session: AsyncSession, page: PageParams) -> dict[str, Any]:
    tiers, total = await TierRepository(session).list(page.offset, page.items_per_page)
    return page.respond([TierRead.model_validate(t) for t in tiers], total)


async def update_tier(session: AsyncSession, name: str, data: TierUpdate) -> Tier:
    repo = TierRepository(session)
    tier = await get_tier(session, name)
    if data.name != tier.name and await repo.name_taken(data.name):
        raise Conflict(NAME_TAKEN)
    tier.name = data.name
    with integrity_error_as(NAME_TAKEN):
        await repo.flush()
    return tier


async def delete_tier(session: AsyncSession, rules: RulesCache, name: str) -> None:
    repo = TierRepository(session)
    tier = await get_tier(session, name)
    users_on = await repo.users_on(tier)
    if users_on:
        raise Conflict(f"Tier is still assigned to {users_on} user(s); move them first")
    # A user assigned meanwhile trips the foreign key (RESTRICT).
    with integrity_error_as("Tier is still assigned to users; move them first"):
        await repo.delete(tier)
    forget_rules(session, rules, tier.id)


def _limit_conflict(field: str) -> Conflict:
    return Conflict(f"This tier already has a rate limit with that {field}")


async def create_rate_limit(
    session: AsyncSession, rules: RulesCache, tier_name: str, data: RateLimitCreate
) -> RateLimit:
    repo = RateLimitRepository(session)
    tier = await get_tier(session, tier_name)
    name = data.name or data.path
    field = await repo.limit_conflicts(tier.id, name=name, path=data.path)
    if field:
        raise _limit_conflict(field)
    rate_limit = RateLimit(
        tier_id=tier.id, name=name, path=data.path, limit=data.limit, period=data.period
    )
    with integrity_error_as(LIMIT_TAKEN):
        await repo.add(rate_limit)
    forget_rules(session, rules, tier.id)
    return rate_limit


async def list_rate_limits(
    session: AsyncSession, tier_name: str, page: PageParams
) -> dict[str, Any]:
    tier = await get_tier(session, tier_name)
    limits, total = await RateLimitRepository(session).page(
        tier.id, page.offset, page.items_per_page
    )
    return page.respond([RateLimitRead.model_validate(rl) for rl in limits], total)


async def get_rate_limit(session: AsyncSession, tier_name: str, limit_id: int) -> RateLimit:
    tier = await get_tier(session, tier_name)
    rate_limit = await RateLimitRepository(session).get(tier, limit_id)
    if rate_limit is None:
        raise NotFound("Rate limit not found")
    return rate_limit


async def update_rate_limit(
    session: AsyncSession,
    rules: RulesCache,
    tier_name: str,
    limit_id: int,
    data: RateLimitUpdate,
) -> RateLimit:
    repo = RateLimitRepository(session)
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
    with integrity_error_as(LIMIT_TAKEN):
        await repo.flush()
    forget_rules(session, rules, rate_limit.tier_id)
    return rate_limit


async def delete_rate_limit(
    session: AsyncSession, rules: RulesCache, tier_name: str, limit_id: int
) -> None:
    rate_limit = await get_rate_limit(session, tier_name, limit_id)
    await RateLimitRepository(session).delete(rate_limit)
    forget_rules(session, rules, rate_limit.tier_id)


async def _visible_user(session: AsyncSession, viewer: Viewer | None, username: str) -> User:
    user = await users.get_user(session, username)
    if viewer is None or (user.id != viewer.id and not viewer.sees_private):
        raise Forbidden("Only that user or a holder of users.read_private may see this")
    return user


async def get_user_tier(
    session: AsyncSession, viewer: Viewer | None, username: str
) -> UserTierRead:
    user = await _visible_user(session, viewer, username)
    tier = await TierRepository(session).of_user(user.id)
    return UserTierRead(
        username=user.username, tier=TierRead.model_validate(tier) if tier else None
    )


async def set_user_tier(session: AsyncSession, username: str, tier_id: int) -> UserTierRead:
    """Move the user to the tier. The user's row is held, so that concurrent moves of one
    user are made one at a time."""
    user = await users.get_user(session, username, lock=True)
    repo = TierRepository(session)
    tier = await repo.get(tier_id)
    if tier is None:
        raise NotFound(TIER_NOT_FOUND)
    # The tier may be deleted meanwhile: then the foreign key refuses the assignment.
    with integrity_error_as(lambda _: NotFound(TIER_NOT_FOUND)):
        await repo.assign(user.id, tier)
    return UserTierRead(username=user.username, tier=TierRead.model_validate(tier))


async def remove_user_tier(session: AsyncSession, username: str) -> None:
    """Take the user's tier away: the default limits apply to them again."""
    user = await users.get_user(session, username, lock=True)
    await TierRepository(session).unassign(user.id)


async def get_user_rate_limits(
    session: AsyncSession, viewer: Viewer | None, username: str
) -> list[RateLimitRead]:
    user = await _visible_user(session, viewer, username)
    tier = await TierRepository(session).of_user(user.id)
    if tier is None:
        return []
    limits = await RateLimitRepository(session).for_tier(tier.id)
    return [RateLimitRead.model_validate(rl) for rl in limits]


async def ensure_tier(session: AsyncSession, name: str) -> bool:
    """Create the tier unless it exists; True when created."""
    if await TierRepository(session).name_taken(name):
        return False
    await create_tier(session, TierCreate(name=name))
    return True
