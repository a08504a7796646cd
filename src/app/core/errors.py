"""Errors that carry their HTTP status, and the handlers that render every error as JSON."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core.db_errors import database_unavailable, describe

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every error but a 422: `{"detail": "what went wrong"}`. A 422 has FastAPI's own shape,
    `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`, whoever raised it."""

    detail: str


class AppError(Exception):
    status_code: ClassVar[int] = 500
    default_detail: ClassVar[str] = "Internal server error"

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers
        super().__init__(self.detail)


class BadRequest(AppError):
    status_code = 400
    default_detail = "Bad request"


class Unauthorized(AppError):
    status_code = 401
    default_detail = "Not authenticated"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    default_detail = "Not allowed"


class NotFound(AppError):
    status_code = 404
    default_detail = "Not found"


class Conflict(AppError):
    status_code = 409
    default_detail = "Conflict"


class Unprocessable(AppError):
    """A 422 found by the app rather than by FastAPI's validation: rendered in the same shape,
    one error at `loc` (e.g. `("query", "cursor")`)."""

    status_code = 422
    default_detail = "Invalid parameters"

    def __init__(self, detail: str | None = None, loc: Sequence[str | int] = ()) -> None:
        super().__init__(detail)
        self.loc = list(loc)


class PayloadTooLarge(AppError):
    status_code = 413
    default_detail = "Request body too large"


class ServiceUnavailable(AppError):
    status_code = 503
    default_detail = "Service unavailable"


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: `responses=error_responses(NotFound, Forbidden)`."""
    return {
        err.status_code: {"description": err.default_detail, "model": ErrorBody} for err in errors
    }


def _json(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _app_error(_: Request, exc: AppError) -> JSONResponse:
    if isinstance(exc, Unprocessable):
        return _json(422, [{"loc": exc.loc, "msg": exc.detail, "type": "value_error"}])
    return _json(exc.status_code, exc.detail, exc.headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method that some route serves at this request's path. Starlette's own 405 names only
    the methods of the first route whose path matched, though several may share the path (one
    route per method, or a template such as `/{username}/post` matching `/user/post`)."""
    methods: set[str] = set()
    # Every route, those of included routers too, with its full path (as the OpenAPI uses).
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    return sorted(methods)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return _json(exc.status_code, exc.detail, headers or None)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    # The submitted values are left out: they may hold a password.
    detail = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return _json(422, detail)


DATABASE_UNAVAILABLE = "Database unavailable, try again shortly"
INTERNAL_ERROR = "Internal server error"
# Seconds a client is told to wait after a 503 for the database (a restart takes a few).
DATABASE_RETRY_AFTER = "5"


def unhandled_error(exc: Exception, method: str, path: str) -> tuple[int, str, dict[str, str]]:
    """The answer to an error that nothing else handled, logged once: the database
    unavailable (core/db_errors.py) is a 503 with Retry-After, logged on one line; anything
    else is a 500, logged with its traceback. The status, detail and headers."""
    if database_unavailable(exc):
        logger.error("database unavailable during %s %s: %s", method, path, describe(exc))
        return 503, DATABASE_UNAVAILABLE, {"Retry-After": DATABASE_RETRY_AFTER}
    logger.error("unhandled %s during %s %s", type(exc).__name__, method, path, exc_info=exc)
    return 500, INTERNAL_ERROR, {}


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Only for an error raised outside the app's middleware (platform/http/middleware.py answers the
    # others, with the request id); Starlette raises it again to the server afterwards.
    status, detail, headers = unhandled_error(exc, request.method, request.url.path)
    return _json(status, detail, headers or None)


def install_error_handlers(app: FastAPI) -> None:
    app.exception_handler(AppError)(_app_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    # Every other error, the database's included, is answered by the app's middleware
    # (platform/http/middleware.py, with `unhandled_error`): inside it, so that the log line has the
    # request id, and without raising to the server, which would log it a second time and
    # close the connection. This handler is for errors raised outside it.
    app.add_exception_handler(Exception, _unexpected)
