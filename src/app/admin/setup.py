"""Mounting the admin panel: `install_admin(app, settings)` in the app factory, with every
installed domain's views (`Domain(admin_views=...)`, built on core/admin.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI
from sqladmin import Admin, ModelView
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.auth import BASE_URL, AdminAuth
from app.admin.guard import AdminGuard
from app.admin.settings import AdminSettings
from app.core.config import Settings
from app.core.errors import AppError
from app.core.state import resources_of

# Our login page (it takes a username or an email); SQLAdmin's own templates for the rest.
TEMPLATES = Path(__file__).parent / "templates"


class LifespanSessions(async_sessionmaker[AsyncSession]):
    """Sessions on the engine that the app's lifespan opened: SQLAdmin takes its session maker
    when the app is built, before any engine exists, and reads through this one."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(class_=AsyncSession, expire_on_commit=False, autoflush=False)
        self._app = app

    def __call__(self, **local_kw: Any) -> AsyncSession:
        return super().__call__(bind=resources_of(self._app).engine, **local_kw)


class AppAdmin(Admin):
    """SQLAdmin on the app's accounts; a refused sign-in says why on the login page."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.auth = AdminAuth(app, settings)
        super().__init__(
            app,
            session_maker=LifespanSessions(app),
            base_url=BASE_URL,
            title=f"{settings.APP_NAME} admin",
            templates_dir=str(TEMPLATES),
            # Outside the session layer that the authentication backend adds.
            middlewares=[Middleware(AdminGuard)],
            authentication_backend=self.auth,
        )

        # A refusal raised by a view or an action (a superuser touched by an admin who is
        # none, a row gone meanwhile) is shown on SQLAdmin's error page with its status,
        # rather than escaping the panel as a 500.
        self.admin.add_exception_handler(AppError, self._refused)

    async def _refused(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, AppError):  # registered for AppError only
            raise exc
        return await self.templates.TemplateResponse(
            request,
            "sqladmin/error.html",
            {"status_code": exc.status_code, "message": exc.detail},
            status_code=exc.status_code,
        )

    async def login(self, request: Request) -> Response:
        if request.method != "POST":
            return await super().login(request)
        refusal = await self.auth.sign_in(request)
        if refusal is None:
            return RedirectResponse(request.url_for("admin:index"), status_code=302)
        page = await self.templates.TemplateResponse(
            request,
            "sqladmin/login.html",
            {"error": refusal.message},
            status_code=refusal.status_code,
        )
        if refusal.retry_after:
            page.headers["Retry-After"] = refusal.retry_after
        return page


def install_admin(app: FastAPI, settings: Settings) -> None:
    """Mount the admin panel at /admin, unless it is off (ADMIN_PANEL_ENABLED; by default on
    in local and staging, off in production). It is a mounted app: not in the OpenAPI
    schema."""
    if not settings.feature(AdminSettings).enabled(settings):
        return
    # The list of domains imports this module (admin/domain.py): read it once it is whole.
    from app.domains import admin_views

    admin = AppAdmin(app, settings)
    for view in admin_views():
        # SQLAdmin keeps its admin and session maker on the view class: a class of this
        # app's own, so that two apps in one process (the tests) keep theirs.
        admin.add_view(cast(type[ModelView], type(view.__name__, (view,), {})))
