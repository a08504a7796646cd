"""The admin panel's views of tiers and their rate limits, written through tiers.service: the
API's checks, and the changed rules applied at once in every process."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request

from app.core.admin import AdminContext, AdminView, admin_context, get_row, validated
from app.core.db import transaction
from app.tiers import service
from app.tiers.models import RateLimit, Tier
from app.tiers.rules import RulesCache
from app.tiers.schemas import RateLimitCreate, RateLimitUpdate, TierCreate, TierUpdate


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
        async with transaction(context.resources.sessionmaker) as session:
            return await service.create_tier(session, validated(TierCreate, name=data["name"]))

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Tier:
        context = admin_context(request)
        async with transaction(context.resources.sessionmaker) as session:
            tier = await get_row(session, Tier, pk)
            return await service.update_tier(
                session, tier.name, validated(TierUpdate, name=data["name"])
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = admin_context(request)
        async with transaction(context.resources.sessionmaker) as session:
            tier = await get_row(session, Tier, pk)
            await service.delete_tier(session, _rules(context), tier.name)


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
        async with transaction(context.resources.sessionmaker) as session:
            tier = await get_row(session, Tier, data.get("tier_id"))
            checked = validated(RateLimitCreate, **self._fields(data))
            return await service.create_rate_limit(session, _rules(context), tier.name, checked)

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> RateLimit:
        context = admin_context(request)
        async with transaction(context.resources.sessionmaker) as session:
            rate_limit = await get_row(session, RateLimit, pk)
            tier = await get_row(session, Tier, rate_limit.tier_id)
            checked = validated(RateLimitUpdate, **self._fields(data))
            return await service.update_rate_limit(
                session, _rules(context), tier.name, rate_limit.id, checked
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = admin_context(request)
        async with transaction(context.resources.sessionmaker) as session:
            rate_limit = await get_row(session, RateLimit, pk)
            tier = await get_row(session, Tier, rate_limit.tier_id)
            await service.delete_rate_limit(session, _rules(context), tier.name, rate_limit.id)


VIEWS = (TierAdmin, RateLimitAdmin)
