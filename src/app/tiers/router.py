from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from app.core.db import DbDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, error_responses
from app.core.identity import require_permissions
from app.core.pagination import Page, PageDep
from app.core.params import ResourceId
from app.tiers import service
from app.tiers.permissions import MANAGE
from app.tiers.rules import RulesCacheDep
from app.tiers.schemas import (
    RateLimitCreate,
    RateLimitRead,
    RateLimitUpdate,
    TierCreate,
    TierRead,
    TierUpdate,
    UserTierRead,
    UserTierUpdate,
)
from app.users.dependencies import Caller, CurrentCaller, viewer_of

router = APIRouter(tags=["tiers"])

ADMIN_ERRORS = error_responses(Unauthorized, Forbidden, NotFound, Conflict)
TierManager = Annotated[Caller, Depends(require_permissions(MANAGE.name))]


@router.post(
    "/tier", status_code=status.HTTP_201_CREATED, response_model=TierRead, responses=ADMIN_ERRORS
)
async def create_tier(data: TierCreate, db: DbDep, _: TierManager) -> TierRead:
    """Create a tier (`tiers.manage`)."""
    return TierRead.model_validate(await service.create_tier(db, data))


@router.get("/tiers", response_model=Page[TierRead])
async def list_tiers(db: DbDep, page: PageDep) -> dict[str, Any]:
    """List tiers, one offset page at a time."""
    return await service.list_tiers(db, page)


@router.get("/tier/{name}", response_model=TierRead, responses=error_responses(NotFound))
async def get_tier(name: str, db: DbDep) -> TierRead:
    """A tier by name."""
    return await service.read_tier(db, name)


@router.patch("/tier/{name}", response_model=TierRead, responses=ADMIN_ERRORS)
async def update_tier(name: str, data: TierUpdate, db: DbDep, _: TierManager) -> TierRead:
    """Rename a tier (`tiers.manage`)."""
    return TierRead.model_validate(await service.update_tier(db, name, data))


@router.delete("/tier/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=ADMIN_ERRORS)
async def delete_tier(name: str, db: DbDep, rules: RulesCacheDep, _: TierManager) -> None:
    """Delete a tier and its rate limits; refused (409) while users still have it."""
    await service.delete_tier(db, rules, name)


@router.post(
    "/tier/{tier_name}/rate_limit",
    status_code=status.HTTP_201_CREATED,
    response_model=RateLimitRead,
    responses=ADMIN_ERRORS,
)
async def create_rate_limit(
    tier_name: str,
    data: RateLimitCreate,
    db: DbDep,
    rules: RulesCacheDep,
    _: TierManager,
) -> RateLimitRead:
    """Add a rate limit for one path to a tier (`tiers.manage`)."""
    rate_limit = await service.create_rate_limit(db, rules, tier_name, data)
    return RateLimitRead.model_validate(rate_limit)


@router.get(
    "/tier/{tier_name}/rate_limits",
    response_model=Page[RateLimitRead],
    responses=error_responses(NotFound),
)
async def list_rate_limits(tier_name: str, db: DbDep, page: PageDep) -> dict[str, Any]:
    """A tier's rate limits, one offset page at a time."""
    return await service.list_rate_limits(db, tier_name, page)


@router.get(
    "/tier/{tier_name}/rate_limit/{id}",
    response_model=RateLimitRead,
    responses=error_responses(NotFound),
)
async def get_rate_limit(tier_name: str, id: ResourceId, db: DbDep) -> RateLimitRead:
    """One of a tier's rate limits."""
    return await service.read_rate_limit(db, tier_name, id)


@router.patch(
    "/tier/{tier_name}/rate_limit/{id}", response_model=RateLimitRead, responses=ADMIN_ERRORS
)
async def update_rate_limit(
    tier_name: str,
    id: ResourceId,
    data: RateLimitUpdate,
    db: DbDep,
    rules: RulesCacheDep,
    _: TierManager,
) -> RateLimitRead:
    """Change a rate limit (`tiers.manage`); every process applies it at once."""
    rate_limit = await service.update_rate_limit(db, rules, tier_name, id, data)
    return RateLimitRead.model_validate(rate_limit)


@router.delete(
    "/tier/{tier_name}/rate_limit/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ADMIN_ERRORS,
)
async def delete_rate_limit(
    tier_name: str,
    id: ResourceId,
    db: DbDep,
    rules: RulesCacheDep,
    _: TierManager,
) -> None:
    """Remove a rate limit (`tiers.manage`)."""
    await service.delete_rate_limit(db, rules, tier_name, id)


@router.get("/user/{username}/tier", response_model=UserTierRead, responses=ADMIN_ERRORS)
async def get_user_tier(username: str, db: DbDep, caller: CurrentCaller) -> UserTierRead:
    """A user's tier (that user or a holder of `users.read_private`)."""
    return await service.get_user_tier(db, await viewer_of(caller), username)


@router.patch("/user/{username}/tier", response_model=UserTierRead, responses=ADMIN_ERRORS)
async def set_user_tier(
    username: str, data: UserTierUpdate, db: DbDep, _: TierManager
) -> UserTierRead:
    """Move a user to another tier (`tiers.manage`); their limits change at once."""
    return await service.set_user_tier(db, username, data.tier_id)


@router.get(
    "/user/{username}/rate_limits", response_model=list[RateLimitRead], responses=ADMIN_ERRORS
)
async def get_user_rate_limits(
    username: str, db: DbDep, caller: CurrentCaller
) -> list[RateLimitRead]:
    """The rate limits of a user's tier (that user or a holder of `users.read_private`)."""
    return await service.get_user_rate_limits(db, await viewer_of(caller), username)
