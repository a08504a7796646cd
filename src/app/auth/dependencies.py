from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from app.auth import service
from app.auth.repository import TOKEN_USER
from app.core.config import Settings, SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.rate_limit import Limit, RateLimiterDep, client_ip, enforce
from app.core.security import InvalidToken, TokenType
from app.core.state import get_resources
from app.users.models import User
from app.users.schemas import UserReadPrivate

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/login", auto_error=False)

INVALID_CREDENTIALS = "Invalid or expired credentials"


async def get_optional_user(
    request: Request, token: Annotated[str | None, Depends(bearer)]
) -> UserReadPrivate | None:
    """The signed-in user, or None for an anonymous request. A bad token is still a 401.

    The check (signature and expiry here, then the user active and the token's session not
    ended) is
    one statement outside any transaction: one round trip. It is not remembered between
    requests, so a logout or a deleted account applies at once in every process."""
    if token is None:
        return None
    # The resources straight from the request, not as sub-dependencies: this runs on every
    # signed-in request, and each dependency FastAPI resolves costs it.
    resources = get_resources(request)
    try:
        claims = resources.token_codec.decode(token, TokenType.ACCESS)
    except InvalidToken:
        raise Unauthorized(INVALID_CREDENTIALS) from None
    row = await TOKEN_USER.one(
        resources.engine, user_id=claims.subject, session_id=claims.session_id
    )
    if row is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return UserReadPrivate.model_validate(dict(row))


async def get_current_user(
    user: Annotated[UserReadPrivate | None, Depends(get_optional_user)],
) -> UserReadPrivate:
    if user is None:
        raise Unauthorized()
    return user


async def get_superuser(
    user: Annotated[UserReadPrivate, Depends(get_current_user)],
) -> UserReadPrivate:
    if not user.is_superuser:
        raise Forbidden("Superuser privileges required")
    return user


# The signed-in user as the API shows them to themselves (UserReadPrivate): what handlers
# compare and present. A handler that changes the account loads it in its own session.
OptionalUser = Annotated[UserReadPrivate | None, Depends(get_optional_user)]
CurrentUser = Annotated[UserReadPrivate, Depends(get_current_user)]
SuperUser = Annotated[UserReadPrivate, Depends(get_superuser)]


async def get_current_session_id(
    request: Request,
    user: CurrentUser,
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
    limiter: RateLimiterDep,
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
    return await _attempt_on(request, limiter, settings, user, key)


LoginAttemptDep = Annotated[service.LoginAttempt, Depends(get_login_attempt)]


async def get_password_check(
    request: Request,
    user: CurrentUser,
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


async def limit_mail_requests(
    request: Request, email: str, limiter: RateLimiterDep, settings: SettingsDep
) -> None:
    """Mail asked for by address: counted per client IP and per address, whether or not an
    account has the address (so that a 429 tells nothing either)."""
    per_ip = Limit(settings.MAIL_RATE_LIMIT_LIMIT, settings.MAIL_RATE_LIMIT_PERIOD)
    await enforce(request, await limiter.hit(per_ip, f"ip:{client_ip(request)}", "mail"))
    per_address = Limit(
        settings.MAIL_ADDRESS_RATE_LIMIT_LIMIT, settings.MAIL_ADDRESS_RATE_LIMIT_PERIOD
    )
    await enforce(request, await limiter.hit(per_address, f"address:{email}", "mail"))
