from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from app.auth import service
from app.auth.repository import TokenRepository
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.rate_limit import Limit, RateLimiterDep, client_ip, enforce
from app.core.security import InvalidToken, TokenCodecDep, TokenType
from app.users.models import User

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/login", auto_error=False)

INVALID_CREDENTIALS = "Invalid or expired credentials"


async def get_optional_user(
    session: SessionDep, codec: TokenCodecDep, token: Annotated[str | None, Depends(bearer)]
) -> User | None:
    """The signed-in user, or None for an anonymous request. A bad token is still a 401."""
    if token is None:
        return None
    try:
        claims = codec.decode(token, TokenType.ACCESS)
    except InvalidToken:
        raise Unauthorized(INVALID_CREDENTIALS) from None
    user = await TokenRepository(session).active_user_for(claims)
    if user is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return user


async def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    if user is None:
        raise Unauthorized()
    return user


async def get_superuser(user: Annotated[User, Depends(get_current_user)]) -> User:
    if not user.is_superuser:
        raise Forbidden("Superuser privileges required")
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]
SuperUser = Annotated[User, Depends(get_superuser)]


async def get_login_attempt(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> service.LoginAttempt:
    """The account a login form names, once the attempt may go on: every attempt counts
    against the client IP's budget; the account's budget counts failed attempts only (its
    username and its email share it), and an account over it is refused before any check."""
    per_ip = Limit(settings.LOGIN_RATE_LIMIT_LIMIT, settings.LOGIN_RATE_LIMIT_PERIOD)
    await enforce(request, await limiter.hit(per_ip, f"ip:{client_ip(request)}", "login"))
    user = await service.find_login_account(session, form.username)
    key = f"user:{user.id}" if user else "login:" + form.username.strip().lower()[:320]
    per_account = Limit(
        settings.LOGIN_ACCOUNT_RATE_LIMIT_LIMIT, settings.LOGIN_ACCOUNT_RATE_LIMIT_PERIOD
    )
    await enforce(request, await limiter.peek(per_account, key, "login"))
    return service.LoginAttempt(user, limiter, per_account, (key, "login"))


LoginAttemptDep = Annotated[service.LoginAttempt, Depends(get_login_attempt)]
