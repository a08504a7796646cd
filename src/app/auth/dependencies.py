from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys.repository import KEY_OWNER, KEY_PREFIX, hash_secret, split_key, touch
from app.auth import service
from app.auth.repository import TOKEN_USER
from app.core import permissions
from app.core.config import Settings, SettingsDep
from app.core.db import SessionDep, utcnow
from app.core.errors import DATABASE_UNAVAILABLE, Forbidden, Unauthorized
from app.core.openapi import document_alternative_scheme, documents
from app.core.rate_limit import Limit, RateLimiter, RateLimiterDep, client_ip, enforce
from app.core.security import InvalidToken, TokenType
from app.core.state import Resources, get_resources
from app.roles.repository import as_names, load_permissions
from app.users.models import User
from app.users.schemas import UserReadPrivate

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/login", auto_error=False)

INVALID_CREDENTIALS = "Invalid or expired credentials"
_NO_KEY_HASH = hashlib.sha256(b"no such key").hexdigest()


class Caller:
    """Who makes the request: a user, signed in with a token or with one of their API keys.

    Its permissions are read only when a check needs them: from the process's cache under the
    grants version the token check read (no query of its own when it matches), or, for a
    superuser, every declared permission. A key's are the key's own among its owner's."""

    __slots__ = ("_key_permissions", "_permissions", "_resources", "_version", "api_key_id", "user")

    def __init__(
        self,
        user: UserReadPrivate,
        version: int,
        resources: Resources,
        api_key_id: int | None = None,
        key_permissions: frozenset[str] | None = None,
    ) -> None:
        self.user = user
        self.api_key_id = api_key_id
        self._version = version
        self._resources = resources
        self._key_permissions = key_permissions
        self._permissions: frozenset[str] | None = None

    async def permissions(self) -> frozenset[str]:
        if self._permissions is None:
            if self.user.is_superuser:
                held = permissions.all_names()
            else:
                engine = self._resources.engine
                held = await self._resources.permissions.get(
                    self.user.id, self._version, partial(load_permissions, engine)
                )
            if self._key_permissions is not None:
                held = held & self._key_permissions
            self._permissions = held
        return self._permissions

    async def can(self, *names: str) -> bool:
        held = await self.permissions()
        return all(name in held for name in names)


async def _key_caller(resources: Resources, key: str) -> Caller:
    parts = split_key(key)
    if parts is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    prefix, secret = parts
    row = await KEY_OWNER.one(resources.engine, prefix=prefix)
    # The hash is compared in constant time even when no key has the prefix.
    stored = row["key_secret_hash"] if row is not None else _NO_KEY_HASH
    matches = hmac.compare_digest(hash_secret(secret), stored)
    if row is None or not matches:
        raise Unauthorized(INVALID_CREDENTIALS)
    expires_at = row["key_expires_at"]
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthorized(INVALID_CREDENTIALS)
    data = dict(row)
    await touch(resources.engine, data["key_id"], data["key_last_used_at"])
    return Caller(
        UserReadPrivate.model_validate(data),
        data["grants_version"],
        resources,
        api_key_id=data["key_id"],
        key_permissions=frozenset(as_names(data["key_permissions"])),
    )


async def session_caller(resources: Resources, user_id: int, session_id: int) -> Caller | None:
    """The caller signed in with this session, if the user is active and the session live:
    one statement outside any transaction (the tokens' check, and the admin panel's)."""
    row = await TOKEN_USER.one(resources.engine, user_id=user_id, session_id=session_id)
    if row is None:
        return None
    data = dict(row)
    return Caller(UserReadPrivate.model_validate(data), data["grants_version"], resources)


# Credentials are checked against the database: unreachable, it is a 503.
@documents(503, DATABASE_UNAVAILABLE)
async def get_optional_caller(
    request: Request, token: Annotated[str | None, Depends(bearer)]
) -> Caller | None:
    """The caller, or None for an anonymous request. A bad token or key is still a 401.

    A token's check (signature and expiry here, then the user active and the token's session
    not ended) is one statement outside any transaction: one round trip; so is a key's. It is
    not remembered between requests, so a logout, a revoked key or a deleted account applies
    at once in every process. API keys come as `Authorization: Bearer ak_...` or in
    `X-API-Key`."""
    if token is None:
        token = request.headers.get("x-api-key")
        if token is None:
            return None
        if not token.startswith(KEY_PREFIX):
            raise Unauthorized(INVALID_CREDENTIALS)
    # The resources straight from the request, not as sub-dependencies: this runs on every
    # signed-in request, and each dependency FastAPI resolves costs it.
    resources = get_resources(request)
    if token.startswith(KEY_PREFIX):
        return await _key_caller(resources, token)
    try:
        claims = resources.token_codec.decode(token, TokenType.ACCESS)
    except InvalidToken:
        raise Unauthorized(INVALID_CREDENTIALS) from None
    caller = await session_caller(resources, claims.subject, claims.session_id)
    if caller is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return caller


OptionalCaller = Annotated[Caller | None, Depends(get_optional_caller)]


async def get_current_caller(caller: OptionalCaller) -> Caller:
    if caller is None:
        raise Unauthorized()
    return caller


CurrentCaller = Annotated[Caller, Depends(get_current_caller)]


async def get_optional_user(caller: OptionalCaller) -> UserReadPrivate | None:
    return caller.user if caller is not None else None


async def get_current_user(caller: CurrentCaller) -> UserReadPrivate:
    return caller.user


KEYS_REFUSED = "API keys cannot manage the account; sign in to do this"


@documents(403, KEYS_REFUSED)
async def get_session_user(caller: CurrentCaller) -> UserReadPrivate:
    """The signed-in user, refusing API keys: the account and its credentials (keys,
    password, sessions, email, deletion) are managed from a signed-in session only."""
    if caller.api_key_id is not None:
        raise Forbidden(KEYS_REFUSED)
    return caller.user


# API keys are read by get_optional_caller (from `X-API-Key`, or as a bearer token);
# the document lists them on every operation that takes credentials, but the account's own.
document_alternative_scheme(
    APIKeyHeader(
        name="X-API-Key",
        scheme_name="APIKey",
        description="An API key (`ak_...`), also accepted as `Authorization: Bearer ak_...`. "
        "It acts as its owner with at most its own permissions, and is refused (403) by the "
        "operations that manage the account: keys, password, sessions, email, deletion.",
    ),
    refused_by=get_session_user,
    required_by=get_current_caller,
)


def require_permissions(*names: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that refuses (403) a caller without every one of these permissions:

        @router.delete("/x", dependencies=[Depends(require_permissions("posts.delete_any"))])
        async def handler(caller: Annotated[Caller, Depends(require_permissions("x.y"))]): ...

    Names must be declared by a domain (checked at start-up)."""
    permissions.note_required(names)

    async def check(caller: CurrentCaller) -> Caller:
        held = await caller.permissions()
        missing = [name for name in names if name not in held]
        if missing:
            raise Forbidden(f"Permission required: {', '.join(missing)}")
        return caller

    return documents(403, f"Permission required: {', '.join(names)}")(check)


# The signed-in user as the API shows them to themselves (UserReadPrivate): what handlers
# compare and present. A handler that changes the account loads it in its own session.
OptionalUser = Annotated[UserReadPrivate | None, Depends(get_optional_user)]
CurrentUser = Annotated[UserReadPrivate, Depends(get_current_user)]
SessionUser = Annotated[UserReadPrivate, Depends(get_session_user)]


async def get_current_session_id(
    request: Request,
    user: SessionUser,
    token: Annotated[str | None, Depends(bearer)],
) -> int:
    """The id of the caller's session (the one its access token belongs to)."""
    if token is None:  # get_current_user refused such a request already
        raise Unauthorized()
    # Decoded already by get_optional_user: this is a lookup in the codec's memory.
    return get_resources(request).token_codec.decode(token, TokenType.ACCESS).session_id


CurrentSessionId = Annotated[int, Depends(get_current_session_id)]


def client_of(request: Request) -> service.Client:
    return service.Client(client_ip(request), request.headers.get("user-agent", ""))


ClientDep = Annotated[service.Client, Depends(client_of)]


async def _attempt_on(
    request: Request,
    limiter: RateLimiter,
    settings: Settings,
    account: User | None,
    key: str,
) -> service.LoginAttempt:
    """A password check of `account`, counted against the failed-login budget of `key`;
    refused (429) when that budget is spent."""
    per_account = Limit(
        settings.LOGIN_ACCOUNT_RATE_LIMIT_LIMIT, settings.LOGIN_ACCOUNT_RATE_LIMIT_PERIOD
    )
    await enforce(request, await limiter.peek(per_account, key, "login"))
    return service.LoginAttempt(account, limiter, per_account, (key, "login"))


async def start_login_attempt(
    request: Request,
    session: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    login: str,
) -> service.LoginAttempt:
    """The account a login (username or email) names, once the attempt may go on: every
    attempt counts against the client IP's budget; the account's budget counts failed attempts
    only (its username and its email share it), and an account over it is refused (429) before
    any check. POST /login and the admin panel's sign-in share these budgets."""
    per_ip = Limit(settings.LOGIN_RATE_LIMIT_LIMIT, settings.LOGIN_RATE_LIMIT_PERIOD)
    await enforce(request, await limiter.hit(per_ip, f"ip:{client_ip(request)}", "login"))
    user = await service.find_login_account(session, login)
    key = f"user:{user.id}" if user else "login:" + login.strip().lower()[:320]
    return await _attempt_on(request, limiter, settings, user, key)


async def get_login_attempt(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> service.LoginAttempt:
    """The account a login form names, once the attempt may go on (`start_login_attempt`)."""
    return await start_login_attempt(request, session, limiter, settings, form.username)


LoginAttemptDep = Annotated[service.LoginAttempt, Depends(get_login_attempt)]


async def get_password_check(
    request: Request,
    user: SessionUser,
    session: SessionDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> service.LoginAttempt:
    """The signed-in account, loaded for a change, with its failed-login budget: a wrong
    current password counts as a failed login, and an account over its budget is refused."""
    account = await session.get(User, user.id)
    if account is None or account.is_deleted:
        raise Unauthorized(INVALID_CREDENTIALS)
    return await _attempt_on(request, limiter, settings, account, f"user:{user.id}")


PasswordCheckDep = Annotated[service.LoginAttempt, Depends(get_password_check)]
