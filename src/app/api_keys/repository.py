from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api_keys.models import ApiKey
from app.core import permissions
from app.core.db import utcnow
from app.core.query import Query
from app.core.repository import Repository
from app.users.models import User
from app.users.repository import LIVE, PRIVATE_COLUMNS

KEY_PREFIX = "ak_"
_PREFIX_LENGTH = 12
# A user holds at most this many live keys.
MAX_KEYS_PER_USER = 100
# last_used_at is written at most this often per key (a write per request would cost more
# than the request).
TOUCH_EVERY = timedelta(minutes=1)

# The check of a request with an API key: the key (not revoked) and its owner (not deleted),
# in one statement outside any transaction, to which the kit adds the permission source's
# grants version (core/identity.py).
KEY_OWNER = (
    select(
        *PRIVATE_COLUMNS,
        ApiKey.id.label("key_id"),
        ApiKey.secret_hash.label("key_secret_hash"),
        ApiKey.permissions.label("key_permissions"),
        ApiKey.expires_at.label("key_expires_at"),
        ApiKey.last_used_at.label("key_last_used_at"),
    )
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(ApiKey.prefix == bindparam("prefix"), ApiKey.revoked_at.is_(None), LIVE)
)


# A user's live keys as ApiKeyRead shows them: one statement, in one round trip (Db.rows).
_LIVE_OF = Query(
    select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.prefix,
        ApiKey.permissions,
        ApiKey.created_at,
        ApiKey.expires_at,
        ApiKey.last_used_at,
    )
    .where(ApiKey.user_id == bindparam("user_id"), ApiKey.revoked_at.is_(None))
    .order_by(ApiKey.id)
)


def new_key() -> tuple[str, str, str]:
    """A new key: (the whole key shown once, its lookup prefix, its secret's hash)."""
    prefix = secrets.token_hex(_PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}{prefix}_{secret}", prefix, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    rest = key[len(KEY_PREFIX) :]
    prefix, separator, secret = (
        rest[:_PREFIX_LENGTH],
        rest[_PREFIX_LENGTH : _PREFIX_LENGTH + 1],
        rest[_PREFIX_LENGTH + 1 :],
    )
    if separator != "_" or not 20 <= len(secret) <= 128:
        return None
    if len(prefix) != _PREFIX_LENGTH or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix, secret


async def touch(engine: AsyncEngine, key_id: int, last_used_at: datetime | None) -> None:
    """Record a use of the key, at most once per TOUCH_EVERY: by the credential check, before
    (and apart from) the request's unit of work, so that a request that fails still counts."""
    now = utcnow()
    if last_used_at is not None and now - last_used_at < TOUCH_EVERY:
        return
    async with engine.begin() as connection:
        await connection.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def hold_owner(self, user_id: int) -> None:
        """Hold the owner's row until the transaction ends, so that concurrent creations of
        their keys count one at a time."""
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())

    async def live_of(self, user_id: int) -> list[dict[str, Any]]:
        """The user's keys that are not revoked, oldest first, as ApiKeyRead reads them (the
        permissions a list: asyncpg gives JSON as text)."""
        rows = await self.db.rows(_LIVE_OF, user_id=user_id)
        return [_shown(row) for row in rows]

    async def count_live(self, user_id: int) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        )
        return count or 0

    async def revoke_all(self, user_id: int, *, session_id: int | None = None) -> list[ApiKey]:
        """Revoke every live key of the user (only those created from `session_id`, when
        given); returns them, oldest first."""
        query = update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        if session_id is not None:
            query = query.where(ApiKey.session_id == session_id)
        rows = await self.session.scalars(
            query.values(revoked_at=utcnow())
            .returning(ApiKey)
            .execution_options(synchronize_session=False)
        )
        return sorted(rows.all(), key=lambda key: key.id)

    async def revoke_ids(self, key_ids: Sequence[int]) -> int:
        """Revoke the live keys among `key_ids`, whoever owns them; returns how many."""
        if not key_ids:
            return 0
        result = await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id.in_(key_ids), ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(ApiKey.id)
        )
        return len(result.all())

    async def revoke(self, user_id: int, key_id: int) -> bool:
        result = await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return bool(getattr(result, "rowcount", 0))


def _shown(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(row, permissions=permissions.as_names(row["permissions"]))
