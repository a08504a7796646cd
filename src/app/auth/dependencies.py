"""auth's part of the request's caller: the access token of a signed-in session, as an
`Authenticator` (core/identity.py); and the dependencies of signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from app.auth import service
from app.auth.repository import TOKEN_USER
from app.core.config import Settings
from app.core.db import Db, DbDep
from app.core.errors import Unauthorized
from app.core.identity import INVALID_CREDENTIALS, Authenticator
from app.core.query import Query
from app.core.state import Resources, SettingsDep
from app.platform.rate_limit import Limit, RateLimiter, RateLimiterDep, client_ip, enforce
from app.platform.security import InvalidToken, TokenType
from app.users.dependencies import Caller, SessionCaller, SessionUser
from app.users.models import User
from app.users.schemas import UserReadPrivate

# The access token, as the document shows it: `POST /login` hands it out. Read by the kit
# (core/identity.py) with every other kind of credential; `POST /logout` reads it itself.
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/login", auto_error=False)


async def _session_caller(
    resources: Resources, query: Query, user_id: int, session_id: int
) -> Caller | None:
    row = await query.one(resources.engine, user_id=user_id, session_id=session_id)
    if row is None:
        return None
    return Caller(UserReadPrivate.model_validate(dict(row)), resources, row, session_id=session_id)


async def token_caller(resources: Resources, token: str, query: Query) -> Caller:
    """The caller of an access token: its signature and expiry checked here, then the user
    active and the token's session not ended, in one statement outside any transaction."""
    try:
        claims = resources.token_codec.decode(token, TokenType.ACCESS)
    except InvalidToken:
        raise Unauthorized(INVALID_CREDENTIALS) from None
    caller = await _session_caller(resources, query, claims.subject, claims.session_id)
    if caller is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return caller


TOKENS = Authenticator(scheme=bearer, statement=TOKEN_USER, check=token_caller)


async def session_caller(resources: Resources, user_id: int, session_id: int) -> Caller | None:
    """The caller signed in with this session, if the user is active and the session live:
    the token check's statement (the admin panel's sign-in cookie holds the two ids)."""
    return await _session_caller(resources, resources.identity.query(TOKENS), user_id, session_id)


async def get_current_session_id(caller: SessionCaller) -> int:
    """The id of the caller's session (the one its access token belongs to)."""
    if caller.session_id is None:  # get_session_caller refused such a request already
        raise Unauthorized()
    return caller.session_id


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
    db: Db,
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
    user = await service.find_login_account(db, login)
    key = f"user:{user.id}" if user else "login:" + login.strip().lower()[:320]
    return await _attempt_on(request, limiter, settings, user, key)


async def get_login_attempt(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    db: DbDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> service.LoginAttempt:
    """The account a login form names, once the attempt may go on (`start_login_attempt`)."""
    return await start_login_attempt(request, db, limiter, settings, form.username)


LoginAttemptDep = Annotated[service.LoginAttempt, Depends(get_login_attempt)]


async def get_password_check(
    request: Request,
    user: SessionUser,
    db: DbDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> service.LoginAttempt:
    """The signed-in account, loaded for a change, with its failed-login budget: a wrong
    current password counts as a failed login, and an account over its budget is refused."""
    account = await service.account_for_change(db, user.id)
    if account is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return await _attempt_on(request, limiter, settings, account, f"user:{user.id}")


PasswordCheckDep = Annotated[service.LoginAttempt, Depends(get_password_check)]
