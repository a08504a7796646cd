"""Rules for API keys: a user's own, each with at most the permissions its owner holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from app.api_keys.models import ApiKey
from app.api_keys.repository import MAX_KEYS_PER_USER, ApiKeyRepository, new_key
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.core.db import Db, utcnow
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.permissions import check_declared, check_held

KEY_NOT_FOUND = "API key not found"
# Keys expire within this (a key without expiry lives until revoked).
MAX_LIFETIME = timedelta(days=3650)


async def create_key(
    db: Db,
    user_id: int,
    held: frozenset[str],
    data: ApiKeyCreate,
    *,
    session_id: int | None = None,
) -> ApiKeyCreated:
    """A new key of the user; `session_id` is the session it is created from (ending that
    session through reuse detection revokes the key: api_keys/events.py)."""
    check_declared(data.permissions)
    check_held(held, data.permissions)
    now = utcnow()
    if data.expires_at is not None and not now < data.expires_at <= now + MAX_LIFETIME:
        raise Unprocessable(
            "expires_at must be in the future and within ten years", ("body", "expires_at")
        )
    repo = ApiKeyRepository(db)
    await repo.hold_owner(user_id)
    if await repo.count_live(user_id) >= MAX_KEYS_PER_USER:
        raise Conflict(f"A user holds at most {MAX_KEYS_PER_USER} API keys; revoke one first")
    key, prefix, secret_hash = new_key()
    row = ApiKey(
        user_id=user_id,
        session_id=session_id,
        name=data.name,
        prefix=prefix,
        secret_hash=secret_hash,
        permissions=data.permissions,
        created_at=now,
        expires_at=data.expires_at,
    )
    await repo.add(row)
    return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)


async def list_keys(db: Db, user_id: int) -> list[ApiKeyRead]:
    return [ApiKeyRead.model_validate(row) for row in await ApiKeyRepository(db).live_of(user_id)]


async def revoke_key(db: Db, user_id: int, key_id: int) -> None:
    if not await ApiKeyRepository(db).revoke(user_id, key_id):
        raise NotFound(KEY_NOT_FOUND)


async def revoke_keys(db: Db, key_ids: Sequence[int]) -> int:
    """Revoke any user's keys (an operator's tool: the admin panel); returns how many were
    live."""
    return await ApiKeyRepository(db).revoke_ids(key_ids)
