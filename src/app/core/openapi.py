"""The OpenAPI document lists, for every operation, the errors that the shared machinery answers
with (middleware, body parsing, authentication, the database dependencies, and the others marked
with `documents`, such as the rate limiter's), on top of the ones its route declares with
`responses=`. A route's own entry always wins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase

from app.core.db import get_db
from app.core.errors import DATABASE_UNAVAILABLE, ErrorBody

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}

# Dependencies that can end any request they serve with a fixed error (domains add theirs
# with `documents`).
_DEPENDENCY_ERRORS: dict[Callable[..., Any], dict[int, str]] = {
    get_db: {503: DATABASE_UNAVAILABLE},
}


@dataclass(frozen=True, slots=True)
class Credentials:
    """How operations take credentials, for the document (core/identity.py `document`).

    Documented from the dependencies an operation uses rather than by FastAPI from security
    dependencies: one dependency reads every kind of credential (a security dependency per
    kind would cost every request).
    """

    # Reads them: an operation that uses it takes credentials
    read_by: Callable[..., Any]
    # Refuses anonymous requests: an operation without it takes none too
    required_by: Callable[..., Any]
    # Takes only a signed-in session's
    session_only: Callable[..., Any]
    # Each kind, with the detail of the 403 with which `session_only` refuses it (None: it
    # takes it)
    schemes: tuple[tuple[SecurityBase, str | None], ...]

    def refusals(self) -> str | None:
        found = [refusal for _, refusal in self.schemes if refusal is not None]
        return "; ".join(found) or None


Call = TypeVar("Call", bound=Callable[..., Any])


def documents(status: int, description: str) -> Callable[[Call], Call]:
    """Mark a dependency that may end any request it serves with `status`: every operation
    that uses it documents the error (a route's own `responses=` entry still wins).

        @documents(503, DATABASE_UNAVAILABLE)
        async def get_optional_caller(request: Request) -> Caller[Any] | None: ...
    """

    def mark(call: Call) -> Call:
        _DEPENDENCY_ERRORS.setdefault(call, {})[status] = description
        return call

    return mark


def _calls(dependant: Dependant | None) -> Iterator[Callable[..., Any]]:
    if dependant is None:
        return
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _shared_errors(
    route: Any,
    operation: dict[str, Any],
    calls: set[Callable[..., Any]],
    credentials: Credentials | None,
) -> dict[int, str]:
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
    for call in calls:
        errors.update(_DEPENDENCY_ERRORS.get(call, {}))
    if credentials is not None and credentials.session_only in calls:
        refusals = credentials.refusals()
        if refusals is not None:
            errors[403] = refusals
    return errors


def _document_security(
    operation: dict[str, Any], calls: set[Callable[..., Any]], credentials: Credentials
) -> None:
    """List the kinds of credentials an operation takes (but those its session-only
    dependency refuses), and an empty requirement when it takes anonymous requests too."""
    security: list[dict[str, list[str]]] = operation.get("security") or []
    if not security and credentials.read_by not in calls:
        return
    session_only = credentials.session_only in calls
    for scheme, refusal in credentials.schemes:
        requirement: dict[str, list[str]] = {scheme.scheme_name: []}
        if not (session_only and refusal is not None) and requirement not in security:
            security.append(requirement)
    if credentials.required_by not in calls and {} not in security:
        security.append({})
    operation["security"] = security


def document_shared_errors(
    app: FastAPI, schema: dict[str, Any], credentials: Credentials | None = None
) -> dict[str, Any]:
    """Add the shared errors, and the credentials each operation takes, to `schema` (the
    app's OpenAPI document), in place."""
    paths = schema.get("paths", {})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            calls = set(_calls(route.dependant))
            if credentials is not None:
                _document_security(operation, calls, credentials)
            responses = operation.setdefault("responses", {})
            shared = _shared_errors(route, operation, calls, credentials)
            for status, description in shared.items():
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
    if credentials is not None:
        schemes = components.setdefault("securitySchemes", {})
        for scheme, _ in credentials.schemes:
            schemes.setdefault(
                scheme.scheme_name,
                scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
    components = components.setdefault("schemas", {})
    components.setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    return schema


def install_openapi(app: FastAPI, credentials: Credentials | None = None) -> None:
    """Make `app.openapi()` return the document with the shared errors and the credentials
    each operation takes (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_shared_errors(app, generate(), credentials)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
