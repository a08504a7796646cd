"""Login, refresh-token rotation and logout."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import TokenRepository
from app.core.errors import Unauthorized
from app.core.rate_limit import Limit, RateLimiter
from app.core.security import (
    InvalidToken,
    IssuedToken,
    PasswordHasher,
    TokenClaims,
    TokenCodec,
    TokenType,
)
from app.users.models import User
from app.users.repository import UserRepository
from app.users.schemas import MAX_PASSWORD_LENGTH

MAX_LOGIN_LENGTH = 320
BAD_LOGIN = "Incorrect username or password"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    refresh: IssuedToken


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The account a login names (None when no active account matches) and the failure
    budget it is counted against."""

    account: User | None
    limiter: RateLimiter
    failures: Limit
    identifiers: tuple[str, ...]


def issue_pair(codec: TokenCodec, user: User) -> TokenPair:
    return TokenPair(
        access=codec.issue(user.id, TokenType.ACCESS),
        refresh=codec.issue(user.id, TokenType.REFRESH),
    )


async def find_login_account(session: AsyncSession, login: str) -> User | None:
    """The active account a login (username or email) names, or None. Inputs that no account
    can match are refused here, before any query."""
    login = login.strip()
    if not login or len(login) > MAX_LOGIN_LENGTH or "\x00" in login:
        return None
    return await UserRepository(session).get_by_login(login)


async def login(
    hasher: PasswordHasher, codec: TokenCodec, attempt: LoginAttempt, password: str
) -> TokenPair:
    """Check `password` against the account of the attempt. A failure counts against the
    account's budget; a success clears it."""
    user = attempt.account
    valid, new_hash = False, None
    # No account can match an oversized password: refuse it without spending a hash. Else
    # the hash is checked even for an unknown login, so both failures take the same time.
    if len(password) <= MAX_PASSWORD_LENGTH:
        valid, new_hash = await hasher.verify(password, user.hashed_password if user else None)
    if user is None or not valid:
        await attempt.limiter.hit(attempt.failures, *attempt.identifiers)
        raise Unauthorized(BAD_LOGIN)
    await attempt.limiter.clear(attempt.failures, *attempt.identifiers)
    if new_hash is not None:
        user.hashed_password = new_hash
    return issue_pair(codec, user)


async def refresh(session: AsyncSession, codec: TokenCodec, refresh_token: str | None) -> TokenPair:
    """Spend a refresh token once and hand out a new pair."""
    if not refresh_token:
        raise Unauthorized("Refresh token missing")
    try:
        claims = codec.decode(refresh_token, TokenType.REFRESH)
    except InvalidToken:
        raise Unauthorized("Invalid or expired refresh token") from None
    tokens = TokenRepository(session)
    user = await tokens.active_user_for(claims)
    if user is None or not await tokens.revoke(claims):
        raise Unauthorized("Invalid or expired refresh token")
    return issue_pair(codec, user)


def _claims_or_none(
    codec: TokenCodec, token: str | None, token_type: TokenType
) -> TokenClaims | None:
    if not token:
        return None
    try:
        return codec.decode(token, token_type)
    except InvalidToken:
        return None


async def logout(
    session: AsyncSession, codec: TokenCodec, access_token: str | None, refresh_token: str | None
) -> None:
    """Revoke the access token and the refresh token presented; at least one must be usable."""
    tokens = TokenRepository(session)
    revoked_any = False
    for claims in (
        _claims_or_none(codec, access_token, TokenType.ACCESS),
        _claims_or_none(codec, refresh_token, TokenType.REFRESH),
    ):
        if claims is not None and await tokens.active_user_for(claims) is not None:
            revoked_any = await tokens.revoke(claims) or revoked_any
    if not revoked_any:
        raise Unauthorized()
    await tokens.purge_expired()
