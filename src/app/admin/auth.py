"""Signing in to the admin panel with the app's own accounts.

A sign-in is a login like `POST /login`: the same per-IP and per-account budgets
(`start_login_attempt`), the same Argon2 check off the event loop, and a real session row
(`SessionRepository.start`), so ending a user's sessions, resetting their password or deleting
the account ends their panel session too. The panel's cookie (Starlette's signed session) holds
the user id, the session id and when the session must end; every request checks again, in one
statement, that the user is active and the session not ended (`TOKEN_USER`), then that the user
still holds `admin.access`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from sqladmin.authentication import AuthenticationBackend
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.permissions import ACCESS
from app.auth import service
from app.auth.dependencies import client_of, session_caller, start_login_attempt
from app.auth.repository import SessionRepository
from app.core.admin import AdminContext, enter_admin
from app.core.config import Settings
from app.core.db import unit_of_work, utcnow
from app.core.errors import Forbidden, Unauthorized
from app.core.state import resources_of
from app.platform.rate_limit import TooManyRequests
from app.platform.security import new_jti
from app.users.verification import EMAIL_VERIFICATION

BASE_URL = "/admin"
COOKIE = "admin_session"
# Idle: the cookie's max age, which every response renews. Absolute: counted from the sign-in.
IDLE_TIMEOUT = timedelta(hours=2)
LIFETIME = timedelta(hours=12)

NOT_ALLOWED = "This account may not use the admin panel: it needs the admin.access permission"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a sign-in was refused, as the login page shows it."""

    message: str
    status_code: int
    retry_after: str | None = None


def session_secret(settings: Settings) -> str:
    """The key that signs the panel's cookie: derived from SECRET_KEY, so that it is not the
    key that signs the tokens."""
    return hmac.new(settings.secret_key.encode(), b"admin-session", hashlib.sha256).hexdigest()


def _ids(request: Request) -> tuple[int, int, int] | None:
    values = tuple(request.session.get(name) for name in ("user_id", "session_id", "ends"))
    if all(type(value) is int for value in values):
        return values  # type: ignore[return-value]
    return None


class AdminAuth(AuthenticationBackend):
    """SQLAdmin's authentication backend on the app's accounts and sessions. Its cookie is
    httpOnly, SameSite=strict, Secure outside local, and sent only under /admin."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        super().__init__(
            session_secret(settings),
            session_cookie=COOKIE,
            max_age=int(IDLE_TIMEOUT.total_seconds()),
            path=BASE_URL,
            # Strict, not lax: SQLAdmin's actions (soft delete, revoke) are GET links, which a
            # lax cookie would accompany on a top-level navigation from another site.
            same_site="strict",
            https_only=not settings.is_local,
        )
        self.app = app

    async def sign_in(self, request: Request) -> Refusal | None:
        """Check the login form and start a session; None on success."""
        resources = resources_of(self.app)
        settings = resources.settings
        form = await request.form()
        login, password = form.get("username"), form.get("password")
        request.session.clear()
        if not isinstance(login, str) or not isinstance(password, str):
            return Refusal(service.BAD_LOGIN, 400)
        try:
            async with unit_of_work(resources) as db:
                attempt = await start_login_attempt(
                    request, db, resources.rate_limiter, settings, login
                )
                user = await attempt.check_password(resources.hasher, password)
                verification = resources.extensions.get(EMAIL_VERIFICATION)
                if verification is not None:
                    verification.check_sign_in(user)
                held = await resources.identity.held(resources.engine, user)
                if ACCESS.name not in held:
                    raise Forbidden(NOT_ALLOWED)
                ends = utcnow() + LIFETIME
                client = client_of(request)
                session_id = await SessionRepository(db).start(
                    user.id, new_jti(), ends, client.ip, client.user_agent
                )
        except TooManyRequests as exc:
            retry = (exc.headers or {}).get("Retry-After")
            wait = f" in {retry} s" if retry else " later"
            return Refusal(f"Too many sign-in attempts: try again{wait}", 429, retry)
        except Unauthorized:
            return Refusal(service.BAD_LOGIN, 400)
        except Forbidden as exc:
            return Refusal(exc.detail, 403)
        request.session.update(
            {"user_id": user.id, "session_id": session_id, "ends": int(ends.timestamp())}
        )
        return None

    async def login(self, request: Request) -> bool:
        return await self.sign_in(request) is None

    async def logout(self, request: Request) -> Response:
        """End the session (its row too), then back to the login page."""
        ids = _ids(request)
        request.session.clear()
        if ids is not None:
            user_id, session_id, _ = ids
            async with unit_of_work(resources_of(self.app)) as db:
                await SessionRepository(db).revoke(session_id, user_id)
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> bool:
        """Every panel request: the session unexpired and not ended, its user active and
        holding `admin.access` (one statement, then the permission cache)."""
        ids = _ids(request)
        if ids is None or ids[2] <= time.time():
            request.session.clear()
            return False
        user_id, session_id, _ = ids
        resources = resources_of(self.app)
        caller = await session_caller(resources, user_id, session_id)
        if caller is None or not await caller.can(ACCESS.name):
            request.session.clear()
            return False
        user = caller.user
        enter_admin(
            request, AdminContext(resources, user.id, user.is_superuser, caller.permissions)
        )
        return True
