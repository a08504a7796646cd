"""API keys as a kind of credential (core/identity.py `Authenticator`): `Authorization: Bearer
ak_...` or `X-API-Key: ak_...`. A key acts as its owner with at most its own permissions,
and without a session, so the operations that manage the account refuse it."""

from __future__ import annotations

import hashlib
import hmac

from fastapi.security import APIKeyHeader

from app.api_keys.repository import KEY_OWNER, KEY_PREFIX, hash_secret, split_key, touch
from app.core.db import utcnow
from app.core.errors import Unauthorized
from app.core.identity import INVALID_CREDENTIALS, Authenticator
from app.core.permissions import as_names
from app.core.query import Query
from app.core.state import Resources
from app.users.dependencies import Caller
from app.users.schemas import UserReadPrivate

HEADER = "X-API-Key"
KEYS_REFUSED = "API keys cannot manage the account; sign in to do this"
_NO_KEY_HASH = hashlib.sha256(b"no such key").hexdigest()


async def key_caller(resources: Resources, key: str, query: Query) -> Caller:
    """The owner of a live, unexpired key, limited to the key's permissions: one statement
    outside any transaction (and, at most once a minute, the key's last use written)."""
    parts = split_key(key)
    if parts is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    prefix, secret = parts
    row = await query.one(resources.engine, prefix=prefix)
    # The hash is compared in constant time even when no key has the prefix.
    stored = row["key_secret_hash"] if row is not None else _NO_KEY_HASH
    matches = hmac.compare_digest(hash_secret(secret), stored)
    if row is None or not matches:
        raise Unauthorized(INVALID_CREDENTIALS)
    expires_at = row["key_expires_at"]
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthorized(INVALID_CREDENTIALS)
    await touch(resources.engine, row["key_id"], row["key_last_used_at"])
    return Caller(
        UserReadPrivate.model_validate(dict(row)),
        resources,
        row,
        scope=frozenset(as_names(row["key_permissions"])),
        refusal=KEYS_REFUSED,
    )


KEYS = Authenticator(
    scheme=APIKeyHeader(
        name=HEADER,
        scheme_name="APIKey",
        description="An API key (`ak_...`), also accepted as `Authorization: Bearer ak_...`. "
        "It acts as its owner with at most its own permissions, and is refused (403) by the "
        "operations that manage the account: keys, password, sessions, email, deletion.",
    ),
    statement=KEY_OWNER,
    check=key_caller,
    prefix=KEY_PREFIX,
    header=HEADER,
    refusal=KEYS_REFUSED,
)
