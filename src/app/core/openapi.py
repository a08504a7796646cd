"""The OpenAPI document lists, for every operation, the errors that the shared machinery answers
with (middleware, body parsing, authentication, the database and rate-limit dependencies), on
top of the ones its route declares with `responses=`. A route's own entry always wins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase

from app.core.db import get_engine, get_session
from app.core.errors import DATABASE_UNAVAILABLE, ErrorBody
from app.core.rate_limit import get_rate_limiter

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

# Dependencies that can end any request they serve with a fixed error (domains add theirs
# with `documents`).
_DEPENDENCY_ERRORS: dict[Callable[..., Any], dict[int, str]] = {
    get_session: {503: DATABASE_UNAVAILABLE},
    get_engine: {503: DATABASE_UNAVAILABLE},
    get_rate_limiter: {429: "Rate limit exceeded"},
}
# Credentials accepted wherever a signed-in caller is, read by the auth dependency itself (no
# security dependency of their own, which every request would pay for).
_ALTERNATIVE_SCHEMES: list[AlternativeScheme] = []


@dataclass(frozen=True, slots=True)
class AlternativeScheme:
    scheme: SecurityBase
    # The dependency that turns this kind of credential away
    refused_by: Callable[..., Any]
    # The dependency that refuses anonymous requests: an operation without it takes any
    # credentials it is given, and none
    required_by: Callable[..., Any]


Call = TypeVar("Call", bound=Callable[..., Any])


def documents(status: int, description: str) -> Callable[[Call], Call]:
    """Mark a dependency that may end any request it serves with `status`: every operation
    that uses it documents the error (a route's own `responses=` entry still wins).

        @documents(403, "API keys cannot manage the account; sign in to do this")
        async def get_session_user(caller: CurrentCaller) -> UserReadPrivate: ...
    """

    def mark(call: Call) -> Call:
        _DEPENDENCY_ERRORS.setdefault(call, {})[status] = description
        return call

    return mark


def document_alternative_scheme(
    scheme: SecurityBase, *, refused_by: Callable[..., Any], required_by: Callable[..., Any]
) -> None:
    """List `scheme` beside the bearer token on every operation that takes credentials, but
    those that use `refused_by`; and mark those without `required_by` as open to anonymous
    callers too (an empty security requirement)."""
    _ALTERNATIVE_SCHEMES.append(AlternativeScheme(scheme, refused_by, required_by))


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
        errors[400] = (
            "Bad request: a Host not allowed, a NUL character in the URL, or a body that "
            "cannot be parsed"
        )
        errors[408] = "Request body not received in time"
        errors[413] = "Request body too large"
    else:
        errors[400] = "Bad request: a Host not allowed, or a NUL character in the URL"
    # Not listed: 431 for too many or too large headers. The server refuses such a request
    # before any operation is chosen, as it refuses a malformed request line.
    if any(operation.get("security") or ()):
        errors[401] = "Not authenticated, or invalid or expired credentials"
    for call in _calls(route.dependant):
        errors.update(_DEPENDENCY_ERRORS.get(call, {}))
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
            security = operation.get("security")
            if security:
                calls = set(_calls(route.dependant))
                for alternative in _ALTERNATIVE_SCHEMES:
                    if alternative.refused_by not in calls:
                        security.append({alternative.scheme.scheme_name: []})
                    if alternative.required_by not in calls and {} not in security:
                        security.append({})
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
    components = schema.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    for alternative in _ALTERNATIVE_SCHEMES:
        schemes.setdefault(
            alternative.scheme.scheme_name,
            alternative.scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
    components = components.setdefault("schemas", {})
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
