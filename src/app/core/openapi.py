"""The OpenAPI document lists, for every operation, the errors that the shared machinery answers
with (middleware, body parsing, authentication, the database and rate-limit dependencies), on
top of the ones its route declares with `responses=`. A route's own entry always wins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.db import get_session
from app.core.errors import ErrorBody
from app.core.rate_limit import get_rate_limiter

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

# Dependencies that can end any request they serve with a fixed error.
_DEPENDENCY_ERRORS: dict[Callable[..., Any], tuple[int, str]] = {
    get_session: (503, "Database unavailable, try again shortly"),
    get_rate_limiter: (429, "Rate limit exceeded"),
}


def _calls(dependant: Dependant | None) -> Iterator[Callable[..., Any]]:
    if dependant is None:
        return
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _shared_errors(route: Any, operation: dict[str, Any]) -> dict[int, str]:
    errors: dict[int, str] = {}
    if route.body_field is not None:
        errors[400] = "Bad request: a NUL character in the URL, or a body that cannot be parsed"
        errors[408] = "Request body not received in time"
        errors[413] = "Request body too large"
    else:
        errors[400] = "Bad request: a NUL character in the URL"
    # Not listed: 431 for too many or too large headers. The server refuses such a request
    # before any operation is chosen, as it refuses a malformed request line.
    if operation.get("security"):
        errors[401] = "Not authenticated, or invalid or expired credentials"
    for call in _calls(route.dependant):
        if call in _DEPENDENCY_ERRORS:
            status, description = _DEPENDENCY_ERRORS[call]
            errors[status] = description
    return errors


def document_shared_errors(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared errors to `schema` (the app's OpenAPI document), in place."""
    paths = schema.get("paths", {})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _shared_errors(route, operation).items():
                responses.setdefault(
                    str(status),
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
            # In status order, as FastAPI lists them.
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the document with the shared errors (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_shared_errors(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
