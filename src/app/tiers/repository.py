from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, select

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
TIER_RULES = Query(
    select(RateLimit.path, RateLimit.limit, RateLimit.period)
    .where(RateLimit.tier_id == bindparam("tier_id"))
    .order_by(RateLimit.id)
)


class TierRepository(Repository[Tier]):
    model = Tier

    async def get_by_name(self, name: str) -> Tier | None:
        return await self.session.scalar(select(Tier).where(Tier.name == name))

    async def get(self, tier_id: int) -> Tier | None:
        return await self.session.get(Tier, tier_id)

    async def name_taken(self, name: str) -> bool:
        return await self.crud.exists(self.session, name=name)

    async def list(self, offset: int, limit: int) -> tuple[Sequence[Tier], int]:
        total = await self.crud.count(self.session)
        rows = await self.session.scalars(
            select(Tier).order_by(Tier.id).offset(offset).limit(limit)
        )
        return rows.all(), total

    async def users_on(self, tier: Tier) -> int:
        """How many users have the tier (a deleted account has none: tiers/events.py)."""
        count = await self.session.scalar(
            select(func.count()).select_from(UserTier).where(UserTier.tier_id == tier.id)
        )
        return int(count or 0)

    async def of_user(self, user_id: int) -> Tier | None:
        return await self.session.scalar(
            select(Tier)
            .join(UserTier, UserTier.tier_id == Tier.id)
            .where(UserTier.user_id == user_id)
        )

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

    async def page(self, tier_id: int, offset: int, limit: int) -> tuple[Sequence[RateLimit], int]:
        total = await self.crud.count(self.session, tier_id=tier_id)
        rows = await self.session.scalars(
            select(RateLimit)
            .where(RateLimit.tier_id == tier_id)
            .order_by(RateLimit.id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), total

    async def for_tier(self, tier_id: int) -> Sequence[RateLimit]:
        rows = await self.session.scalars(
            select(RateLimit).where(RateLimit.tier_id == tier_id).order_by(RateLimit.id)
        )
        return rows.all()
