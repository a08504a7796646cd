"""The interactive documentation, by environment: open in `local`; in `staging` only for
holders of `docs.read` (superusers hold it): HTTP Basic with their username or email and
password, so a browser can open it, or their bearer token; absent (404) in `production`."""

from __future__ import annotations

import base64
import binascii

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse

from app.auth import service
from app.core.config import Environment, Settings
from app.core.db import DbDep
from app.core.domain import Domain
from app.core.errors import AppError, Forbidden
from app.core.permissions import Permission
from app.core.state import ResourcesDep, SettingsDep
from app.platform.rate_limit import Limit, RateLimiterDep, client_ip, enforce
from app.platform.security import HasherDep
from app.users.dependencies import OptionalCaller
from app.users.schemas import UserReadPrivate

READ = Permission("docs.read", "Read the API documentation where it is not public (staging)")
# Not a domain of the API: it only declares the permission its pages check.
domain = Domain(name="docs", permissions=(READ,))

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


class DocsUnauthorized(AppError):
    status_code = 401
    default_detail = "Sign in with the docs.read permission to read the API documentation"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Basic realm="API docs", charset="UTF-8"'})


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise DocsUnauthorized() from None
    login, sep, password = decoded.partition(":")
    if not sep:
        raise DocsUnauthorized()
    return login, password


async def docs_superuser(
    request: Request,
    db: DbDep,
    hasher: HasherDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    caller: OptionalCaller,
) -> UserReadPrivate:
    """A holder of `docs.read`, by bearer token or by HTTP Basic; else 401 asking the browser
    to sign in."""
    if caller is not None:
        user = caller.user
        allowed = await caller.can(READ.name)
    else:
        credentials = _basic_credentials(request)
        if credentials is None:
            raise DocsUnauthorized()
        # Each Basic request checks a password: limit them per IP like logins.
        per_ip = Limit(settings.LOGIN_RATE_LIMIT_LIMIT, settings.LOGIN_RATE_LIMIT_PERIOD)
        await enforce(request, await limiter.hit(per_ip, f"ip:{client_ip(request)}", "docs"))
        login, password = credentials
        account = await service.find_login_account(db, login)
        valid, _ = await hasher.verify(password, account.hashed_password if account else None)
        if account is None or not valid:
            raise DocsUnauthorized()
        user = UserReadPrivate.model_validate(account)
        allowed = READ.name in await resources.identity.held(resources.engine, user)
    if not allowed:
        raise Forbidden(f"Permission required: {READ.name}")
    return user


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Serve /docs, /redoc and /openapi.json as the environment allows."""
    if settings.ENVIRONMENT is Environment.PRODUCTION:
        return
    guard = [] if settings.is_local else [Depends(docs_superuser)]
    title = settings.APP_NAME

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(DOCS_URL, include_in_schema=False, dependencies=guard)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False, dependencies=guard)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{title} - ReDoc")
