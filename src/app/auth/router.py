from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.dependencies import LoginAttemptDep, bearer
from app.auth.schemas import Message, Token
from app.core.config import Settings, SettingsDep
from app.core.db import SessionDep
from app.core.errors import Unauthorized, error_responses
from app.core.rate_limit import TooManyRequests
from app.core.security import HasherDep, TokenCodecDep

router = APIRouter(tags=["auth"])

REFRESH_COOKIE = "refresh_token"
COOKIE_PATH = "/api/v1"


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


@router.post(
    "/login",
    response_model=Token,
    responses=error_responses(Unauthorized, TooManyRequests),
)
async def login(
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    attempt: LoginAttemptDep,
    hasher: HasherDep,
    codec: TokenCodecDep,
    settings: SettingsDep,
) -> Token:
    """Sign in with username (or email) and password; sets the refresh-token cookie."""
    pair = await service.login(hasher, codec, attempt, form.password)
    _set_refresh_cookie(response, settings, pair)
    return Token(access_token=pair.access.token)


@router.post("/refresh", response_model=Token, responses=error_responses(Unauthorized))
async def refresh(
    response: Response,
    session: SessionDep,
    codec: TokenCodecDep,
    settings: SettingsDep,
    refresh_token: Annotated[str | None, Cookie()] = None,
) -> Token:
    """Trade the refresh-token cookie (usable once) for a new access token and a new cookie."""
    pair = await service.refresh(session, codec, refresh_token)
    _set_refresh_cookie(response, settings, pair)
    return Token(access_token=pair.access.token)


@router.post("/logout", response_model=Message, responses=error_responses(Unauthorized))
async def logout(
    response: Response,
    session: SessionDep,
    codec: TokenCodecDep,
    settings: SettingsDep,
    access_token: Annotated[str | None, Depends(bearer)],
    refresh_token: Annotated[str | None, Cookie()] = None,
) -> Message:
    """Revoke the current access token and refresh token, and clear the cookie."""
    await service.logout(session, codec, access_token, refresh_token)
    response.delete_cookie(
        REFRESH_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=not settings.is_local,
        samesite="lax",
    )
    return Message(message="Logged out successfully")
