from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Cookie, Depends, Query, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import account, service
from app.auth.dependencies import (
    ClientDep,
    CurrentSessionId,
    LoginAttemptDep,
    PasswordCheckDep,
    bearer,
)
from app.auth.schemas import (
    Message,
    PasswordChange,
    RefreshRequest,
    SessionRead,
    Token,
)
from app.core.config import Settings
from app.core.db import DbDep
from app.core.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
    error_responses,
)
from app.core.observe import reports_logins
from app.core.params import ResourceId
from app.core.state import ResourcesDep, SettingsDep
from app.platform.rate_limit import TooManyRequests
from app.platform.security import HasherDep, TokenCodecDep, TokenType
from app.users.dependencies import EmailVerificationDep, SessionUser

router = APIRouter(tags=["auth"])

REFRESH_COOKIE = "refresh_token"
COOKIE_PATH = "/api/v1"
TokenDelivery = Literal["cookie", "body"]


def _set_refresh_cookie(response: Response, settings: Settings, pair: service.TokenPair) -> None:
    response.set_cookie(
        key=REFRESH_COOKIE,
        value=pair.refresh.token,
        max_age=settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400,
        path=COOKIE_PATH,
        httponly=True,
        secure=not settings.is_local,
        samesite="lax",
    )


def _deliver(
    response: Response,
    settings: Settings,
    codec: TokenCodecDep,
    pair: service.TokenPair,
    delivery: TokenDelivery,
) -> Token:
    expires_in = int(codec.ttl(TokenType.ACCESS).total_seconds())
    if delivery == "body":
        return Token(
            access_token=pair.access.token, expires_in=expires_in, refresh_token=pair.refresh.token
        )
    _set_refresh_cookie(response, settings, pair)
    return Token(access_token=pair.access.token, expires_in=expires_in)


@router.post(
    "/login",
    response_model=Token,
    response_model_exclude_none=True,
    responses=error_responses(Unauthorized, Forbidden, TooManyRequests),
)
@reports_logins
async def login(
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    attempt: LoginAttemptDep,
    db: DbDep,
    hasher: HasherDep,
    codec: TokenCodecDep,
    settings: SettingsDep,
    client: ClientDep,
    verification: EmailVerificationDep,
    token_delivery: Annotated[
        TokenDelivery,
        Query(
            description="`cookie` (browsers): the refresh token is set as an httpOnly cookie. "
            "`body`: it is returned as `refresh_token`, for clients that hold no cookies."
        ),
    ] = "cookie",  # noqa: S107
) -> Token:
    """Sign in with username (or email) and password: starts a session (see
    `/user/me/sessions`) and hands out an access token and a refresh token."""
    pair = await service.login(
        db,
        hasher,
        codec,
        attempt,
        form.password,
        client,
        verification=verification,
    )
    return _deliver(response, settings, codec, pair, token_delivery)


@router.post(
    "/refresh",
    response_model=Token,
    response_model_exclude_none=True,
    responses=error_responses(Unauthorized),
)
async def refresh(
    response: Response,
    db: DbDep,
    resources: ResourcesDep,
    codec: TokenCodecDep,
    settings: SettingsDep,
    client: ClientDep,
    body: Annotated[RefreshRequest | None, Body()] = None,
    refresh_token: Annotated[str | None, Cookie()] = None,
) -> Token:
    """Trade the session's refresh token (usable once) for a new pair. Sent in the body, the
    new refresh token comes back in the body; else from and to the cookie. A refresh token
    presented a second time ends its session."""
    token = body.refresh_token if body is not None else refresh_token
    pair = await service.refresh(db, resources, token, client)
    return _deliver(response, settings, codec, pair, "body" if body is not None else "cookie")


@router.post("/logout", response_model=Message, responses=error_responses(Unauthorized))
async def logout(
    response: Response,
    db: DbDep,
    codec: TokenCodecDep,
    settings: SettingsDep,
    access_token: Annotated[str | None, Depends(bearer)],
    body: Annotated[RefreshRequest | None, Body()] = None,
    refresh_token: Annotated[str | None, Cookie()] = None,
) -> Message:
    """End the session of the access token and of the refresh token (cookie or body), and
    clear the cookie."""
    token = body.refresh_token if body is not None else refresh_token
    await service.logout(db, codec, access_token, token)
    response.delete_cookie(
        REFRESH_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=not settings.is_local,
        samesite="lax",
    )
    return Message(message="Logged out successfully")


# --- sessions ----------------------------------------------------------------------------


@router.get(
    "/user/me/sessions",
    response_model=list[SessionRead],
    responses=error_responses(Unauthorized),
)
async def list_sessions(
    user: SessionUser, current: CurrentSessionId, db: DbDep
) -> list[SessionRead]:
    """Your live sessions (one per login), most recently used first."""
    return await service.list_sessions(db, user.id, current)


@router.delete(
    "/user/me/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, NotFound),
)
async def end_session(session_id: ResourceId, user: SessionUser, db: DbDep) -> None:
    """End one of your sessions (the current one too: that is a logout)."""
    await service.end_session(db, user.id, session_id)


@router.delete(
    "/user/me/sessions",
    response_model=Message,
    responses=error_responses(Unauthorized),
)
async def end_other_sessions(user: SessionUser, current: CurrentSessionId, db: DbDep) -> Message:
    """End every session of yours but the current one."""
    ended = await service.end_other_sessions(db, user.id, current)
    return Message(message=f"Ended {ended} other session{'s' if ended != 1 else ''}")


@router.post(
    "/user/me/password",
    response_model=Message,
    responses=error_responses(BadRequest, Unauthorized, TooManyRequests),
)
async def change_password(
    data: PasswordChange,
    attempt: PasswordCheckDep,
    current: CurrentSessionId,
    db: DbDep,
    resources: ResourcesDep,
) -> Message:
    """Change your password: the current one is checked (a wrong one counts as a failed
    login); every other session ends, the calling one stays."""
    ended = await account.change_password(
        db, resources, attempt, data.current_password, data.new_password, current
    )
    return Message(message=f"Password changed; {ended} other session(s) ended")
