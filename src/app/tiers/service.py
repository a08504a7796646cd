"""Tiers and their per-path rate limits."""

from __future__ import annotations

from typing import Any

from app.core.db import Db, integrity_error_as
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
from app.users.schemas import UserRead
from app.users.service import Viewer

TIER_NOT_FOUND = "Tier not found"
NAME_TAKEN = "Tier name is already taken"
LIMIT_TAKEN = "This tier already has that rate limit"
LIMIT_NOT_FOUND = "Rate limit not found"


async def read_tier(db: Db, name: str) -> TierRead:
    row = await TierRepository(db).read(name)
    if row is None:
        raise NotFound(TIER_NOT_FOUND)
    return TierRead.model_validate(dict(row))


async def get_tier(db: Db, name: str) -> Tier:
    """The tier, to change it."""
    tier = await TierRepository(db).get_by_name(name)
    if tier is None:
        raise NotFound(TIER_NOT_FOUND)
    return tier


async def create_tier(db: Db, data: TierCreate) -> Tier:
    repo = TierRepository(db)
    if await repo.name_taken(data.name):
        raise Conflict(NAME_TAKEN)
    with integrity_error_as(NAME_TAKEN):
        return await repo.add(Tier(name=data.name))


async def list_tiers(db: Db, page: PageParams) -> dict[str, Any]:
    rows, total = await TierRepository(db).page(page.offset, page.items_per_page)
    return page.respond([TierRead.model_validate(dict(row)) for row in rows], total)


async def update_tier(db: Db, name: str, data: TierUpdate) -> Tier:
    repo = TierRepository(db)
    tier = await get_tier(db, name)
    if data.name != tier.name and await repo.name_taken(data.name):
        raise Conflict(NAME_TAKEN)
    tier.name = data.name
    with integrity_error_as(NAME_TAKEN):
        await repo.flush()
    return tier


async def delete_tier(db: Db, rules: RulesCache, name: str) -> None:
    repo = TierRepository(db)
    tier = await get_tier(db, name)
    users_on = await repo.users_on(tier)
    if users_on:
        raise Conflict(f"Tier is still assigned to {users_on} user(s); move them first")
    # A user assigned meanwhile trips the foreign key (RESTRICT).
    with integrity_error_as("Tier is still assigned to users; move them first"):
        await repo.delete(tier)
    forget_rules(db, rules, tier.id)


def _limit_conflict(field: str) -> Conflict:
    return Conflict(f"This tier already has a rate limit with that {field}")


async def create_rate_limit(
    db: Db, rules: RulesCache, tier_name: str, data: RateLimitCreate
) -> RateLimit:
    repo = RateLimitRepository(db)
    tier = await get_tier(db, tier_name)
    name = data.name or data.path
    field = await repo.limit_conflicts(tier.id, name=name, path=data.path)
    if field:
        raise _limit_conflict(field)
    rate_limit = RateLimit(
        tier_id=tier.id, name=name, path=data.path, limit=data.limit, period=data.period
    )
    with integrity_error_as(LIMIT_TAKEN):
        await repo.add(rate_limit)
    forget_rules(db, rules, tier.id)
    return rate_limit


async def list_rate_limits(db: Db, tier_name: str, page: PageParams) -> dict[str, Any]:
    rows, total = await RateLimitRepository(db).page(tier_name, page.offset, page.items_per_page)
    if not rows:  # no limits, past the last page, or no such tier (a 404)
        await read_tier(db, tier_name)
    return page.respond([RateLimitRead.model_validate(dict(row)) for row in rows], total)


async def read_rate_limit(db: Db, tier_name: str, limit_id: int) -> RateLimitRead:
    row = await RateLimitRepository(db).read(tier_name, limit_id)
    if row is None:
        await read_tier(db, tier_name)  # the tier's 404 first
        raise NotFound(LIMIT_NOT_FOUND)
    return RateLimitRead.model_validate(dict(row))


async def get_rate_limit(db: Db, tier_name: str, limit_id: int) -> RateLimit:
    """The rate limit, to change it."""
    tier = await get_tier(db, tier_name)
    rate_limit = await RateLimitRepository(db).get(tier, limit_id)
    if rate_limit is None:
        raise NotFound(LIMIT_NOT_FOUND)
    return rate_limit


async def update_rate_limit(
    db: Db,
    rules: RulesCache,
    tier_name: str,
    limit_id: int,
    data: RateLimitUpdate,
) -> RateLimit:
    repo = RateLimitRepository(db)
    rate_limit = await get_rate_limit(db, tier_name, limit_id)
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
    forget_rules(db, rules, rate_limit.tier_id)
    return rate_limit


async def delete_rate_limit(db: Db, rules: RulesCache, tier_name: str, limit_id: int) -> None:
    rate_limit = await get_rate_limit(db, tier_name, limit_id)
    await RateLimitRepository(db).delete(rate_limit)
    forget_rules(db, rules, rate_limit.tier_id)


async def _visible_user(db: Db, viewer: Viewer | None, username: str) -> UserRead:
    user = await users.read_user(db, username, None)
    if viewer is None or (user.id != viewer.id and not viewer.sees_private):
        raise Forbidden("Only that user or a holder of users.read_private may see this")
    return user


async def get_user_tier(db: Db, viewer: Viewer | None, username: str) -> UserTierRead:
    user = await _visible_user(db, viewer, username)
    row = await TierRepository(db).read_of_user(user.id)
    return UserTierRead(
        username=user.username, tier=TierRead.model_validate(dict(row)) if row else None
    )


async def set_user_tier(db: Db, username: str, tier_id: int) -> UserTierRead:
    """Move the user to the tier. The user's row is held, so that concurrent moves of one
    user are made one at a time."""
    user = await users.get_user(db, username, lock=True)
    repo = TierRepository(db)
    tier = await repo.get(tier_id)
    if tier is None:
        raise NotFound(TIER_NOT_FOUND)
    # The tier may be deleted meanwhile: then the foreign key refuses the assignment.
    with integrity_error_as(lambda _: NotFound(TIER_NOT_FOUND)):
        await repo.assign(user.id, tier)
    return UserTierRead(username=user.username, tier=TierRead.model_validate(tier))


async def remove_user_tier(db: Db, username: str) -> None:
    """Take the user's tier away: the default limits apply to them again."""
    user = await users.get_user(db, username, lock=True)
    await TierRepository(db).unassign(user.id)


async def get_user_rate_limits(db: Db, viewer: Viewer | None, username: str) -> list[RateLimitRead]:
    user = await _visible_user(db, viewer, username)
    rows = await RateLimitRepository(db).read_of_user(user.id)
    return [RateLimitRead.model_validate(dict(row)) for row in rows]


async def ensure_tier(db: Db, name: str) -> bool:
    """Create the tier unless it exists; True when created."""
    if await TierRepository(db).name_taken(name):
        return False
    await create_tier(db, TierCreate(name=name))
    return True
