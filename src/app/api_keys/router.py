from __future__ import annotations

from fastapi import APIRouter, status

from app.api_keys import service
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.auth.dependencies import CurrentSessionId
from app.core.db import DbDep
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, error_responses
from app.core.params import ResourceId
from app.users.dependencies import CurrentCaller, SessionUser

router = APIRouter(tags=["api keys"])


@router.post(
    "/user/me/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(Unauthorized, Forbidden, Conflict),
)
async def create_api_key(
    data: ApiKeyCreate,
    db: DbDep,
    user: SessionUser,
    caller: CurrentCaller,
    current: CurrentSessionId,
) -> ApiKeyCreated:
    """Create an API key. `key` is in this answer only: store it now. Send it as
    `Authorization: Bearer <key>` or `X-API-Key: <key>`; it acts as you on your own
    resources, with at most the `permissions` given here (each one yours). Changing or
    resetting your password, or deleting your account, revokes every key; reuse detection
    ending the session a key was created from revokes that key."""
    held = await caller.permissions()
    return await service.create_key(db, user.id, held, data, session_id=current)


@router.get(
    "/user/me/api-keys",
    response_model=list[ApiKeyRead],
    responses=error_responses(Unauthorized),
)
async def list_api_keys(db: DbDep, caller: CurrentCaller) -> list[ApiKeyRead]:
    """Your API keys that are not revoked (without their secrets), with their last use."""
    return await service.list_keys(db, caller.user.id)


@router.delete(
    "/user/me/api-keys/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
async def revoke_api_key(id: ResourceId, db: DbDep, user: SessionUser) -> None:
    """Revoke one of your API keys: it stops working at once."""
    await service.revoke_key(db, user.id, id)
