"""The admin panel's views of tiers, their rate limits and users' tiers, written through
tiers.service: the API's checks, and the changed rules applied at once in every process."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request

from app.core.admin import AdminContext, AdminView, admin_context, get_row, validated
from app.core.db import unit_of_work
from app.tiers import service
from app.tiers.models import RateLimit, Tier, UserTier
from app.tiers.rules import RulesCache
from app.tiers.schemas import RateLimitCreate, RateLimitUpdate, TierCreate, TierUpdate
from app.users.models import User


def _rules(context: AdminContext) -> RulesCache:
    return RulesCache(context.resources.cache, context.resources.rate_limiter)


class TierAdmin(AdminView, model=Tier):
    name = "Tier"
    name_plural = "Tiers"
    icon = "fa-solid fa-layer-group"
    category = "Limits"
    column_list = (Tier.id, Tier.name, Tier.created_at, Tier.updated_at)
    column_searchable_list = (Tier.name,)
    form_columns = (Tier.name,)

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> Tier:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            return await service.create_tier(db, validated(TierCreate, name=data["name"]))

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Tier:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            tier = await get_row(db, Tier, pk)
            return await service.update_tier(
                db, tier.name, validated(TierUpdate, name=data["name"])
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            tier = await get_row(db, Tier, pk)
            await service.delete_tier(db, _rules(context), tier.name)


class RateLimitAdmin(AdminView, model=RateLimit):
    name = "Rate limit"
    name_plural = "Rate limits"
    icon = "fa-solid fa-gauge"
    category = "Limits"
    column_list = (
        RateLimit.id,
        RateLimit.tier_id,
        RateLimit.name,
        RateLimit.path,
        RateLimit.limit,
        RateLimit.period,
    )
    column_labels: ClassVar[dict[Any, str]] = {
        RateLimit.tier_id: "tier",
        RateLimit.period: "period (s)",
    }
    column_searchable_list = (RateLimit.name, RateLimit.path)
    form_columns = (
        RateLimit.tier_id,
        RateLimit.name,
        RateLimit.path,
        RateLimit.limit,
        RateLimit.period,
    )
    # For the tier id (a foreign key), chosen when the limit is created.
    form_include_pk = True
    form_edit_rules: ClassVar[list[str]] = ["name", "path", "limit", "period"]

    @staticmethod
    def _fields(data: dict[Any, Any]) -> dict[str, Any]:
        return {key: data.get(key) for key in ("name", "path", "limit", "period")}

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> RateLimit:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            tier = await get_row(db, Tier, data.get("tier_id"))
            checked = validated(RateLimitCreate, **self._fields(data))
            return await service.create_rate_limit(db, _rules(context), tier.name, checked)

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> RateLimit:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            rate_limit = await get_row(db, RateLimit, pk)
            tier = await get_row(db, Tier, rate_limit.tier_id)
            checked = validated(RateLimitUpdate, **self._fields(data))
            return await service.update_rate_limit(
                db, _rules(context), tier.name, rate_limit.id, checked
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            rate_limit = await get_row(db, RateLimit, pk)
            tier = await get_row(db, Tier, rate_limit.tier_id)
            await service.delete_rate_limit(db, _rules(context), tier.name, rate_limit.id)


class UserTierAdmin(AdminView, model=UserTier):
    """Who has which tier (the users' own view knows nothing of tiers): a user given a tier
    or moved to another, as by `PATCH /user/{username}/tier`, or back to the default limits."""

    name = "User tier"
    name_plural = "User tiers"
    icon = "fa-solid fa-user-tag"
    category = "Limits"
    column_list = (UserTier.user_id, UserTier.tier_id)
    column_labels: ClassVar[dict[Any, str]] = {UserTier.user_id: "user", UserTier.tier_id: "tier"}
    form_columns = (UserTier.user_id, UserTier.tier_id)
    # For the user id (the primary key), chosen when the tier is given.
    form_include_pk = True
    form_edit_rules: ClassVar[list[str]] = ["tier_id"]

    async def _assign(self, request: Request, user_id: Any, tier_id: Any) -> UserTier:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            user = await get_row(db, User, user_id)
            tier = await get_row(db, Tier, tier_id)
            await service.set_user_tier(db, user.username, tier.id)
            return await get_row(db, UserTier, user.id)

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> UserTier:
        return await self._assign(request, data.get("user_id"), data.get("tier_id"))

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> UserTier:
        return await self._assign(request, pk, data.get("tier_id"))

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            user = await get_row(db, User, pk)
            await service.remove_user_tier(db, user.username)


VIEWS = (TierAdmin, RateLimitAdmin, UserTierAdmin)
