"""The `cache` decorator and its keys: a GET response is stored under
`{formatted key_prefix}:{resource id}`; any other method invalidates it (and the extra keys and
patterns it names) once the request's transaction has committed."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request, Response, params
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, serialize_response

from app.core.db import Db, DbDep, get_db
from app.core.observe import hooks
from app.core.state import get_resources
from app.platform.cache.backends import CacheBackend, CacheUnavailable

logger = logging.getLogger("app.platform.cache")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_GLOB_CHARS = re.compile(r"([*?\[\]\\])")


def fill(template: str, values: Mapping[str, Any], *, glob_safe: bool = False) -> str:
    """The template with its `{name}` placeholders filled; `glob_safe` escapes glob characters
    in the values, so that a pattern matches only what its literal parts say."""

    def value_of(match: re.Match[str]) -> str:
        text = str(values[match.group(1)])
        return _GLOB_CHARS.sub(r"[\1]", text) if glob_safe else text

    return _PLACEHOLDER.sub(value_of, template)


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def check_pattern(pattern: str) -> str:
    """A pattern must start with a literal namespace and ':', so it is invalidated from that
    namespace's index, never by scanning the keyspace."""
    head = _PLACEHOLDER.sub("", pattern.split(":", 1)[0])
    if ":" not in pattern or any(ch in head for ch in "*?[]"):
        raise ValueError(
            f"pattern {pattern!r} must start with a literal namespace and ':', "
            "for example '{username}_posts:*'"
        )
    return pattern


async def invalidate_now(
    backend: CacheBackend, keys: Sequence[str], patterns: Sequence[str] = ()
) -> None:
    """Invalidate keys and patterns, logging (not raising) when the cache is unreachable."""
    try:
        await backend.invalidate(keys, patterns)
    except CacheUnavailable as exc:
        logger.error("cache unavailable, could not invalidate %s %s: %s", keys, patterns, exc)


def invalidate_after_commit(
    db: Db,
    backend: CacheBackend,
    keys: Sequence[str],
    patterns: Sequence[str] = (),
) -> None:
    """Invalidate once the unit of work `db` has committed (never if it rolls back)."""
    db.after_commit(functools.partial(invalidate_now, backend, list(keys), list(patterns)))


async def get_cache(request: Request) -> CacheBackend:
    return get_resources(request).cache


CacheDep = Annotated[CacheBackend, Depends(get_cache)]


@dataclass(frozen=True, slots=True)
class EarlySpec:
    """How a cached GET endpoint's key is built, for answering hits before routing."""

    key_prefix: str
    id_name: str
    defaults: dict[str, object]


EARLY_ATTRIBUTE = "__cache_early__"


async def _serialize(request: Request, result: Any) -> bytes:
    """The body FastAPI would send for `result`: through the route's response model, with
    the route's include/exclude options, so a cached page holds exactly what an uncached one
    shows."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and route.response_field is not None:
        body = await serialize_response(
            field=route.response_field,
            response_content=result,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            dump_json=True,
        )
        return cast(bytes, body)
    return json.dumps(jsonable_encoder(result), separators=(",", ":")).encode()


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_REQUEST = "_cache_request"
_RESPONSE = "_cache_response"
_DB = "_cache_db"


def _depends_on(hint: Any, dependency: Callable[..., Any]) -> bool:
    return any(
        isinstance(mark, params.Depends) and mark.dependency is dependency
        for mark in getattr(hint, "__metadata__", ())
    )


def cache(
    key_prefix: str,
    resource_id_name: str | None = None,
    expiration: int = 3600,
    resource_id_type: type | tuple[type, ...] = int,
    to_invalidate_extra: dict[str, str] | None = None,
    pattern_to_invalidate_extra: list[str] | None = None,
    *,
    serve_hits_early: bool = False,
) -> Callable[[F], F]:
    """Cache a GET endpoint's JSON response; on other methods, invalidate it.

    Templates in `key_prefix`, `to_invalidate_extra` and the patterns are filled from the
    endpoint's path and query parameters. What is stored is what the route's response model
    makes of the result, the same for every caller.

    `serve_hits_early=True` (GET endpoints that anyone may read) lets `CacheHitMiddleware`
    answer hits before routing, skipping FastAPI's dependency resolution. Only an endpoint
    whose one dependency is the unit of work (`DbDep`) qualifies (others are refused here),
    with no route or router `dependencies=[...]` (it is then served the normal way, and the
    start-up log says so); requests that carry `Authorization` always take the normal way.

        @router.get("/{username}/post/{id}", response_model=PostRead)
        @cache("{username}_post_cache", resource_id_name="id")
        async def get_post(username: str, id: int, db: DbDep) -> PostRead: ...

        @router.patch("/{username}/post/{id}", response_model=PostRead)
        @cache("{username}_post_cache", resource_id_name="id",
               pattern_to_invalidate_extra=["{username}_posts:*"])
        async def update_post(...) -> PostRead: ...
    """
    extra_keys = dict(to_invalidate_extra or {})
    patterns = [check_pattern(p) for p in pattern_to_invalidate_extra or []]

    def decorator(func: F) -> F:
        signature = inspect.signature(func)
        names = set(signature.parameters)
        hints = typing.get_type_hints(func, include_extras=True)
        id_name = resource_id_name
        if id_name is None:
            plain = typing.get_type_hints(func)
            id_name = next(
                (
                    name
                    for name in signature.parameters
                    if isinstance(plain.get(name), type)
                    and issubclass(plain[name], resource_id_type)
                ),
                None,
            )
        if id_name is None or id_name not in names:
            raise ValueError(f"{func.__name__}: cannot find the resource id parameter for @cache")
        _check_templates(func, "@cache", [key_prefix, *extra_keys, *extra_keys.values(), *patterns])
        early = (
            _early_spec(func, signature, hints, key_prefix, id_name) if serve_hits_early else None
        )
        write = _writer(extra_keys, patterns)

        async def endpoint(
            request: Request,
            response: Response,
            db: Db,
            kwargs: dict[str, Any],
            args: tuple[Any, ...],
        ) -> Any:
            backend = get_resources(request).cache
            key = f"{fill(key_prefix, kwargs)}:{kwargs[id_name]}"
            if request.method != "GET":
                result = await func(*args, **kwargs)
                write(db, backend, kwargs, [key])
                return result
            try:
                cached = await backend.get(key)
            except CacheUnavailable as exc:
                logger.warning("cache unavailable, serving %s from the database: %s", key, exc)
                cached = None
            hooks.cache_lookup(backend, key_prefix, cached is not None)
            if cached is not None:
                body, state = cached, "HIT"
            else:
                body, state = await _serialize(request, await func(*args, **kwargs)), "MISS"
                try:
                    await backend.set(key, body, expiration)
                except CacheUnavailable as exc:
                    logger.warning("cache unavailable, %s not stored: %s", key, exc)
            reply = Response(body, media_type="application/json")
            reply.headers.update(response.headers)
            reply.headers["X-Cache"] = state
            return reply

        wrapper = _with_injected(func, signature, hints, endpoint)
        if early is not None:
            setattr(wrapper, EARLY_ATTRIBUTE, early)
        return cast(F, wrapper)

    return decorator


def invalidates(
    to_invalidate: dict[str, str] | None = None, patterns: list[str] | None = None
) -> Callable[[F], F]:
    """Invalidate keys (`{prefix}: {id}` templates) and patterns after a write commits, for a
    write endpoint that caches nothing under a key of its own.

        @router.post("/{username}/post", response_model=PostRead)
        @invalidates(patterns=["{username}_posts:*"])
        async def create_post(...) -> PostRead: ...
    """
    extra_keys = dict(to_invalidate or {})
    checked = [check_pattern(p) for p in patterns or []]

    def decorator(func: F) -> F:
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)
        _check_templates(func, "@invalidates", [*extra_keys, *extra_keys.values(), *checked])
        write = _writer(extra_keys, checked)

        async def endpoint(
            request: Request,
            response: Response,
            db: Db,
            kwargs: dict[str, Any],
            args: tuple[Any, ...],
        ) -> Any:
            result = await func(*args, **kwargs)
            write(db, get_resources(request).cache, kwargs, [])
            return result

        return cast(F, _with_injected(func, signature, hints, endpoint))

    return decorator


def _check_templates(func: Callable[..., Any], decorator: str, templates: list[str]) -> None:
    """Every `{name}` of the templates must be a parameter of the endpoint."""
    names = set(inspect.signature(func).parameters)
    missing = set().union(*(placeholders(t) for t in templates)) - names
    if missing:
        raise ValueError(f"{func.__name__}: {decorator} templates use unknown names {missing}")


def _writer(
    extra_keys: dict[str, str], patterns: list[str]
) -> Callable[[Db, CacheBackend, dict[str, Any], list[str]], None]:
    def write(db: Db, backend: CacheBackend, values: dict[str, Any], keys: list[str]) -> None:
        keys = keys + [
            f"{fill(prefix, values)}:{fill(ident, values)}" for prefix, ident in extra_keys.items()
        ]
        globbed = [fill(p, values, glob_safe=True) for p in patterns]
        invalidate_after_commit(db, backend, keys, globbed)

    return write


def _with_injected(
    func: Callable[..., Any],
    signature: inspect.Signature,
    hints: dict[str, Any],
    endpoint: Callable[..., Awaitable[Any]],
) -> Any:
    """`func` with the Request, Response and unit of work FastAPI gives it, adding the ones it
    does not take itself (FastAPI injects one of each per request, so they are the same
    objects; the unit of work costs nothing until a statement runs in it)."""
    names = set(signature.parameters)
    request_name = next((n for n in names if hints.get(n) is Request), _REQUEST)
    response_name = next((n for n in names if hints.get(n) is Response), _RESPONSE)
    db_name = next((n for n in names if _depends_on(hints.get(n), get_db)), _DB)
    injected = {
        name: annotation
        for name, annotation in (
            (request_name, Request),
            (response_name, Response),
            (db_name, DbDep),
        )
        if name not in names
    }

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request: Request = kwargs[request_name]
        response: Response = kwargs[response_name]
        db: Db = kwargs[db_name]
        for name in injected:
            kwargs.pop(name)
        return await endpoint(request, response, db, kwargs, args)

    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for name, annotation in injected.items()
    ]
    parameters = list(signature.parameters.values())
    positional = [p for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*positional, *keyword, *extra]
    )
    return wrapper


def _early_spec(
    func: Callable[..., Any],
    signature: inspect.Signature,
    hints: dict[str, Any],
    key_prefix: str,
    id_name: str,
) -> EarlySpec:
    for name, param in signature.parameters.items():
        marks = [param.default, *getattr(hints.get(name), "__metadata__", ())]
        for mark in marks:
            if isinstance(mark, params.Depends) and mark.dependency is not get_db:
                raise ValueError(
                    f"{func.__name__}: serve_hits_early needs an endpoint whose only dependency "
                    f"is the unit of work (DbDep); {name!r} depends on {mark.dependency!r}"
                )
    defaults = {
        name: param.default
        for name, param in signature.parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    return EarlySpec(key_prefix, id_name, defaults)
