from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.query import Query
from app.core.repository import Repository
from app.tiers.models import RateLimit, Tier, UserTier
from app.users.models import User

# The caller's tier, read with them by the credential check (a caller column, core/identity.py).
CALLER_TIER = (
    select(UserTier.tier_id).where(UserTier.user_id == User.id).scalar_subquery().label("tier_id")
)
# A tier's rules, for the rate limiter (tiers/rules.py): read outside any transaction, once per
# change of the tier's rules in each process.
_TIER_RULES = Query(
    select(RateLimit.path, RateLimit.limit, RateLimit.period)
    .where(RateLimit.tier_id == bindparam("tier_id"))
    .order_by(RateLimit.id)
)


# The reads that show tiers and their limits: one statement each, in one round trip (Db.rows).
_TIER_COLUMNS = (Tier.id, Tier.name, Tier.created_at)
_LIMIT_COLUMNS = (
    RateLimit.id,
    RateLimit.tier_id,
    RateLimit.name,
    RateLimit.path,
    RateLimit.limit,
    RateLimit.period,
    RateLimit.created_at,
)
_TIER = Query(select(*_TIER_COLUMNS).where(Tier.name == bindparam("name")))
_TIER_COUNT = Query(select(func.count().label("total")).select_from(Tier))
# A page and the total in one round trip (the count runs once); past the last page no row
# carries the total.
_TIER_PAGE = Query(
    select(
        *_TIER_COLUMNS,
        select(func.count()).select_from(Tier).correlate(None).scalar_subquery().label("total"),
    )
    .order_by(Tier.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_USER_TIER = Query(
    select(*_TIER_COLUMNS)
    .join(UserTier, UserTier.tier_id == Tier.id)
    .where(UserTier.user_id == bindparam("user_id"))
)
_OF_TIER = RateLimit.tier_id == (
    select(Tier.id).where(Tier.name == bindparam("tier_name")).scalar_subquery()
)
_LIMIT = Query(select(*_LIMIT_COLUMNS).where(_OF_TIER, RateLimit.id == bindparam("limit_id")))
_LIMIT_COUNT = Query(select(func.count().label("total")).select_from(RateLimit).where(_OF_TIER))
_LIMIT_PAGE = Query(
    select(
        *_LIMIT_COLUMNS,
        select(func.count())
        .select_from(RateLimit)
        .where(_OF_TIER)
        .correlate(None)
        .scalar_subquery()
        .label("total"),
    )
    .where(_OF_TIER)
    .order_by(RateLimit.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_USER_LIMITS = Query(
    select(*_LIMIT_COLUMNS)
    .join(UserTier, UserTier.tier_id == RateLimit.tier_id)
    .where(UserTier.user_id == bindparam("user_id"))
    .order_by(RateLimit.id)
)


def _total(counted: Mapping[str, Any] | None) -> int:
    return int(counted["total"]) if counted else 0


async def tier_rules(engine: AsyncEngine, tier_id: int) -> list[tuple[str, int, int]]:
    """A tier's rules as (path, limit, period), for the rate limiter, which runs before any
    unit of work: on the engine, in one round trip."""
    rows = await _TIER_RULES.all(engine, tier_id=tier_id)
    return [(row["path"], row["limit"], row["period"]) for row in rows]


class TierRepository(Repository[Tier]):
    model = Tier

    async def read(self, name: str) -> Mapping[str, Any] | None:
        """A tier by name, as TierRead reads it."""
        return await self.db.row(_TIER, name=name)

    async def page(self, offset: int, limit: int) -> tuple[Sequence[Mapping[str, Any]], int]:
        """Tiers by id, as TierRead reads them, and how many there are."""
        rows = await self.db.rows(_TIER_PAGE, offset=offset, limit=limit)
        if rows:
            return rows, int(rows[0]["total"])
        return rows, _total(await self.db.row(_TIER_COUNT))

    async def read_of_user(self, user_id: int) -> Mapping[str, Any] | None:
        """The user's tier, as TierRead reads it; None when they have none."""
        return await self.db.row(_USER_TIER, user_id=user_id)

    async def get_by_name(self, name: str) -> Tier | None:
        return await self.session.scalar(select(Tier).where(Tier.name == name))

    async def get(self, tier_id: int) -> Tier | None:
        return await self.session.get(Tier, tier_id)

    async def name_taken(self, name: str) -> bool:
        return await self.db.row(_TIER, name=name) is not None

    async def users_on(self, tier: Tier) -> int:
        """How many users have the tier (a deleted account has none: tiers/events.py)."""
        count = await self.session.scalar(
            select(func.count()).select_from(UserTier).where(UserTier.tier_id == tier.id)
        )
        return int(count or 0)

    async def assign(self, user_id: int, tier: Tier) -> None:
        """Give the user the tier (the caller holds the user's row)."""
        link = await self.session.get(UserTier, user_id)
        if link is None:
            self.session.add(UserTier(user_id=user_id, tier_id=tier.id))
        else:
            link.tier_id = tier.id
        await self.session.flush()

    async def unassign(self, user_id: int) -> None:
        await self.session.execute(delete(UserTier).where(UserTier.user_id == user_id))


class RateLimitRepository(Repository[RateLimit]):
    """A tier's rate limits, always scoped to the tier."""

    model = RateLimit

    async def read(self, tier_name: str, limit_id: int) -> Mapping[str, Any] | None:
        """One of the tier's limits, as RateLimitRead reads it."""
        return await self.db.row(_LIMIT, tier_name=tier_name, limit_id=limit_id)

    async def page(
        self, tier_name: str, offset: int, limit: int
    ) -> tuple[Sequence[Mapping[str, Any]], int]:
        """The tier's limits by id, as RateLimitRead reads them, and how many there are
        (none for an unknown tier)."""
        rows = await self.db.rows(_LIMIT_PAGE, tier_name=tier_name, offset=offset, limit=limit)
        if rows:
            return rows, int(rows[0]["total"])
        return rows, _total(await self.db.row(_LIMIT_COUNT, tier_name=tier_name))

    async def read_of_user(self, user_id: int) -> Sequence[Mapping[str, Any]]:
        """The limits of the user's tier, as RateLimitRead reads them."""
        return await self.db.rows(_USER_LIMITS, user_id=user_id)

    async def get(self, tier: Tier, limit_id: int) -> RateLimit | None:
        return await self.session.scalar(
            select(RateLimit).where(RateLimit.id == limit_id, RateLimit.tier_id == tier.id)
        )

    async def limit_conflicts(
        self, tier_id: int, *, name: str | None, path: str | None, exclude_id: int | None = None
    ) -> str | None:
        """Which field of a rate limit is already used in the tier, if any."""
        for field, value in (("name", name), ("path", path)):
            if value is None:
                continue
            query = select(RateLimit.id).where(
                RateLimit.tier_id == tier_id, getattr(RateLimit, field) == value
            )
            if exclude_id is not None:
                query = query.where(RateLimit.id != exclude_id)
            if await self.session.scalar(query.limit(1)) is not None:
                return field
        return None
