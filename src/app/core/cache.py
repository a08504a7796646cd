"""Server-side response cache: Redis in production, process memory in the embedded default.

Keys are `{formatted key_prefix}:{resource id}`. The part before the first ':' is the key's
namespace; each namespace keeps an index of its keys, so a pattern such as `alice_posts:*`
is invalidated from that index instead of scanning the keyspace.

A stale read is prevented by write fences: invalidating a key (or a namespace) leaves a
short-lived fence, and a response computed before the write cannot be stored while the fence
stands. Invalidation runs after the request's transaction commits, before the response goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import inspect
import json
import logging
import re
import time
import typing
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar, cast

from fastapi import Depends, Request, Response, params
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.db import after_commit, get_session
from app.core.rate_limit import full_path_template

logger = logging.getLogger(__name__)

FENCE_PREFIX = "cache-fence:"
INDEX_PREFIX = "cache-index:"
_GLOB_CHARS = re.compile(r"([*?\[\]\\])")


class CacheUnavailable(Exception):
    """The cache backend cannot be reached; callers fall back to the database."""


def namespace_of(key: str) -> str:
    """The part before the first ':'; in a pattern, with its escaped glob characters restored."""
    return re.sub(r"\[(.)\]", r"\1", key.split(":", 1)[0])


class CacheBackend(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int) -> bool:
        """Store unless a write fence stands on the key or its namespace; True when stored."""
        ...

    async def invalidate(self, keys: Sequence[str], patterns: Sequence[str]) -> None: ...

    async def ping(self) -> bool:
        """True when the backend answers."""
        ...

    async def close(self) -> None: ...


_SET_SCRIPT = """
if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[4], KEYS[1])
if redis.call('TTL', KEYS[4]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[4], ARGV[2]) end
return 1
"""


class RedisCache:
    """The shared backend: every app process sees the same entries and fences.

    An invalidation that cannot reach Redis is kept and retried in the background until it
    lands; until then this process neither reads nor stores entries, so it never serves what a
    write of its own has made stale.
    """

    def __init__(self, client: Redis, fence_seconds: int, retry_max_seconds: float = 1.0) -> None:
        self.client = client
        self.fence_seconds = fence_seconds
        self.retry_max_seconds = retry_max_seconds
        self._set_script = client.register_script(_SET_SCRIPT)
        self._pending_keys: set[str] = set()
        self._pending_patterns: set[str] = set()
        self._retry: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        return bool(self._pending_keys or self._pending_patterns)

    async def get(self, key: str) -> bytes | None:
        await self._flush_pending()
        try:
            value = await self.client.get(key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return cast(bytes | None, value)

    async def set(self, key: str, value: bytes, ttl: int) -> bool:
        await self._flush_pending()
        namespace = namespace_of(key)
        keys = [key, FENCE_PREFIX + key, FENCE_PREFIX + namespace, INDEX_PREFIX + namespace]
        try:
            stored = await self._set_script(keys=keys, args=[value, ttl])
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return bool(stored)

    async def invalidate(self, keys: Sequence[str], patterns: Sequence[str]) -> None:
        try:
            await self._invalidate(keys, patterns)
        except (RedisError, OSError) as exc:
            self._pending_keys.update(keys)
            self._pending_patterns.update(patterns)
            if self._retry is None or self._retry.done():
                self._retry = asyncio.create_task(self._retry_pending())
            raise CacheUnavailable(str(exc)) from exc

    async def _invalidate(self, keys: Sequence[str], patterns: Sequence[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(FENCE_PREFIX + key, 1, ex=self.fence_seconds)
            for pattern in patterns:
                pipe.set(FENCE_PREFIX + namespace_of(pattern), 1, ex=self.fence_seconds)
            await pipe.execute()
        doomed = list(keys)
        for pattern in patterns:
            index = INDEX_PREFIX + namespace_of(pattern)
            raw = await cast(Awaitable[set[bytes | str]], self.client.smembers(index))
            members = [m.decode() if isinstance(m, bytes) else m for m in raw]
            matched = [m for m in members if fnmatch.fnmatchcase(m, pattern)]
            if matched:
                await cast(Awaitable[int], self.client.srem(index, *matched))
            doomed.extend(matched)
        if doomed:
            await self.client.delete(*doomed)

    async def _flush_pending(self) -> None:
        """Apply the invalidations that failed earlier; CacheUnavailable while they still fail."""
        if not self.pending:
            return
        keys, patterns = sorted(self._pending_keys), sorted(self._pending_patterns)
        try:
            await self._invalidate(keys, patterns)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(f"{len(keys) + len(patterns)} invalidations pending") from exc
        self._pending_keys.difference_update(keys)
        self._pending_patterns.difference_update(patterns)
        logger.warning(
            "cache reachable again: applied %d pending invalidations", len(keys) + len(patterns)
        )

    async def _retry_pending(self) -> None:
        delay = 0.05
        while self.pending:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_seconds)
            with contextlib.suppress(CacheUnavailable):
                await self._flush_pending()

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        if self.pending:
            with contextlib.suppress(CacheUnavailable):
                await self._flush_pending()
        if self.pending:
            logger.error(
                "cache unreachable at shutdown: invalidations of %s %s were not applied",
                sorted(self._pending_keys),
                sorted(self._pending_patterns),
            )
        await self.client.aclose()


class MemoryCache:
    """The embedded backend: one process, same semantics as `RedisCache`."""

    def __init__(self, fence_seconds: int, max_entries: int = 10_000) -> None:
        self.fence_seconds = fence_seconds
        self.max_entries = max_entries
        self._values: dict[str, tuple[float, bytes]] = {}
        self._fences: dict[str, float] = {}
        self._index: dict[str, set[str]] = {}

    def _fenced(self, name: str, now: float) -> bool:
        until = self._fences.get(name)
        if until is None:
            return False
        if until <= now:
            del self._fences[name]
            return False
        return True

    async def get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> bool:
        now = time.monotonic()
        namespace = namespace_of(key)
        if self._fenced(key, now) or self._fenced(namespace, now):
            return False
        if len(self._values) >= self.max_entries:
            self._evict(now)
        self._values[key] = (now + ttl, value)
        self._index.setdefault(namespace, set()).add(key)
        return True

    def _evict(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._values.items() if expires <= now]:
            del self._values[key]
        while len(self._values) >= self.max_entries:
            del self._values[next(iter(self._values))]

    async def invalidate(self, keys: Sequence[str], patterns: Sequence[str]) -> None:
        until = time.monotonic() + self.fence_seconds
        for key in keys:
            self._fences[key] = until
            self._values.pop(key, None)
        for pattern in patterns:
            namespace = namespace_of(pattern)
            self._fences[namespace] = until
            members = self._index.get(namespace, set())
            for key in [m for m in members if fnmatch.fnmatchcase(m, pattern)]:
                members.discard(key)
                self._values.pop(key, None)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._values.clear()


async def get_cache(request: Request) -> CacheBackend:
    backend: CacheBackend = request.app.state.cache
    return backend


CacheDep = Annotated[CacheBackend, Depends(get_cache)]


def _format(template: str, values: dict[str, Any], *, glob_safe: bool = False) -> str:
    def value_of(match: re.Match[str]) -> str:
        text = str(values[match.group(1)])
        return _GLOB_CHARS.sub(r"[\1]", text) if glob_safe else text

    return re.sub(r"\{(\w+)\}", value_of, template)


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", template))


def _serialize(result: Any) -> bytes:
    if isinstance(result, BaseModel):
        return result.model_dump_json().encode()
    return json.dumps(jsonable_encoder(result), separators=(",", ":")).encode()


async def invalidate_now(
    backend: CacheBackend, keys: Sequence[str], patterns: Sequence[str] = ()
) -> None:
    """Invalidate keys and patterns, logging (not raising) when the cache is unreachable."""
    try:
        await backend.invalidate(keys, patterns)
    except CacheUnavailable as exc:
        logger.error("cache unavailable, could not invalidate %s %s: %s", keys, patterns, exc)


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_REQUEST = "_cache_request"
_RESPONSE = "_cache_response"


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
    endpoint's path and query parameters. A cached endpoint must return its response schema
    (what it returns is what is stored, the same for every caller).

    `serve_hits_early=True` (GET endpoints that anyone may read) lets `CacheHitMiddleware`
    answer hits before routing, skipping FastAPI's dependency resolution. Only an endpoint
    whose one dependency is the session qualifies (others are refused here), with no
    route-level `dependencies=[...]` (it is then served the normal way); requests that carry
    `Authorization` always take the normal way. Do not put it under a router whose
    `dependencies=` must run on every request.

        @router.get("/{username}/post/{id}", response_model=PostRead)
        @cache("{username}_post_cache", resource_id_name="id")
        async def get_post(username: str, id: int, session: SessionDep) -> PostRead: ...

        @router.patch("/{username}/post/{id}", response_model=PostRead)
        @cache("{username}_post_cache", resource_id_name="id",
               pattern_to_invalidate_extra=["{username}_posts:*"])
        async def update_post(...) -> PostRead: ...
    """
    extra_keys = dict(to_invalidate_extra or {})
    patterns = list(pattern_to_invalidate_extra or [])
    for pattern in patterns:
        head = re.sub(r"\{\w+\}", "", pattern.split(":", 1)[0])
        if ":" not in pattern or any(ch in head for ch in "*?[]"):
            raise ValueError(
                f"pattern {pattern!r} must start with a literal namespace and ':', "
                "for example '{username}_posts:*'"
            )

    def decorator(func: F) -> F:
        signature = inspect.signature(func)
        names = set(signature.parameters)
        # FastAPI injects one Request and one Response per endpoint: reuse the endpoint's own.
        hints = typing.get_type_hints(func)
        request_name = next((n for n in names if hints.get(n) is Request), _REQUEST)
        response_name = next((n for n in names if hints.get(n) is Response), _RESPONSE)
        own_request, own_response = request_name in names, response_name in names
        id_name = resource_id_name
        if id_name is None:
            id_name = next(
                (
                    name
                    for name in signature.parameters
                    if isinstance(hints.get(name), type)
                    and issubclass(hints[name], resource_id_type)
                ),
                None,
            )
        if id_name is None or id_name not in names:
            raise ValueError(f"{func.__name__}: cannot find the resource id parameter for @cache")
        templates = [key_prefix, *extra_keys, *extra_keys.values(), *patterns]
        missing = set().union(*(_placeholders(t) for t in templates)) - names
        if missing:
            raise ValueError(f"{func.__name__}: @cache templates use unknown names {missing}")
        early: _EarlySpec | None = None
        if serve_hits_early:
            early = _early_spec(func, signature, key_prefix, id_name)

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs[request_name] if own_request else kwargs.pop(_REQUEST)
            sub_response: Response = (
                kwargs[response_name] if own_response else kwargs.pop(_RESPONSE)
            )
            backend: CacheBackend = request.app.state.cache
            key = f"{_format(key_prefix, kwargs)}:{kwargs[id_name]}"

            if request.method != "GET":
                result = await func(*args, **kwargs)
                keys = [key] + [
                    f"{_format(prefix, kwargs)}:{_format(ident, kwargs)}"
                    for prefix, ident in extra_keys.items()
                ]
                globbed = [_format(p, kwargs, glob_safe=True) for p in patterns]
                await after_commit(
                    request, functools.partial(invalidate_now, backend, keys, globbed)
                )
                return result

            if early is not None:
                early.learn(request)
            try:
                cached = await backend.get(key)
            except CacheUnavailable as exc:
                logger.warning("cache unavailable, serving %s from the database: %s", key, exc)
                cached = None
            if cached is not None:
                body, state = cached, "HIT"
            else:
                body, state = _serialize(await func(*args, **kwargs)), "MISS"
                try:
                    await backend.set(key, body, expiration)
                except CacheUnavailable as exc:
                    logger.warning("cache unavailable, %s not stored: %s", key, exc)
            response = Response(body, media_type="application/json")
            response.headers.update(sub_response.headers)
            response.headers["X-Cache"] = state
            return response

        extra = []
        if not own_request:
            extra.append(
                inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
            )
        if not own_response:
            extra.append(
                inspect.Parameter(_RESPONSE, inspect.Parameter.KEYWORD_ONLY, annotation=Response)
            )
        params = list(signature.parameters.values())
        positional = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*positional, *keyword, *extra]
        )
        return cast(F, wrapper)

    return decorator


# --- answering hits before routing -----------------------------------------------------------

_REQUIRED = object()
# Query values the early path trusts: a raw value that names a stored key is the very string
# FastAPI turned into that key, so it stands for the same parameter value. "None" is left to
# FastAPI (as a string it is not the absent value).
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.~=-]{1,256}$")
EARLY_ROUTES = "early_cache_routes"


@dataclass(frozen=True, slots=True)
class EarlyRoute:
    """A learned cached GET route: its full path as a regex, and how to build its key."""

    pattern: re.Pattern[str]
    key_prefix: str
    id_name: str
    query_defaults: dict[str, object]

    def key_for(self, path_values: dict[str, str], query_string: bytes) -> str | None:
        values: dict[str, object] = dict(path_values)
        given = urllib.parse.parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        for name, value in given:
            if name not in self.query_defaults or name in values:
                return None
            if value == "None" or not _PLAIN_VALUE.match(value):
                return None
            values[name] = value
        for name, default in self.query_defaults.items():
            if name not in values:
                if default is _REQUIRED:
                    return None
                values[name] = default
        return f"{_format(self.key_prefix, values)}:{values[self.id_name]}"


@dataclass(slots=True)
class _EarlySpec:
    key_prefix: str
    id_name: str
    defaults: dict[str, object]
    learned: set[int] = field(default_factory=set)

    def learn(self, request: Request) -> None:
        """Register this endpoint's full path with the app, once per app."""
        app = request.app
        if id(app) in self.learned:
            return
        self.learned.add(id(app))
        route = request.scope.get("route")
        path_format: str | None = getattr(route, "path_format", None)
        registry: dict[str, EarlyRoute] | None = getattr(app.state, EARLY_ROUTES, None)
        if registry is None or route is None or not path_format:
            return
        if getattr(route, "dependencies", None):
            logger.warning(
                "%s has route dependencies: its cache hits go the normal way", path_format
            )
            return
        template = full_path_template(request)
        if template is None:
            return
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        path_names = set(parts[1::2])
        query_defaults = {
            name: self.defaults.get(name, _REQUIRED)
            for name in _placeholders(self.key_prefix) | {self.id_name}
            if name not in path_names
        }
        registry[template] = EarlyRoute(
            re.compile(regex), self.key_prefix, self.id_name, query_defaults
        )


def _early_spec(
    func: Callable[..., Any], signature: inspect.Signature, key_prefix: str, id_name: str
) -> _EarlySpec:
    hints = typing.get_type_hints(func, include_extras=True)
    for name, param in signature.parameters.items():
        marks = [param.default, *getattr(hints.get(name), "__metadata__", ())]
        for mark in marks:
            if isinstance(mark, params.Depends) and mark.dependency is not get_session:
                raise ValueError(
                    f"{func.__name__}: serve_hits_early needs an endpoint whose only dependency "
                    f"is the session; {name!r} depends on {mark.dependency!r}"
                )
    defaults = {
        name: param.default
        for name, param in signature.parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    return _EarlySpec(key_prefix, id_name, defaults)


class CacheHitMiddleware:
    """Answers GET requests for endpoints cached with `serve_hits_early=True` straight from
    the cache when the entry is there; everything else (misses, signed-in requests, unknown
    query parameters, an unreachable cache) goes on to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = await self._hit(scope)
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-cache", b"HIT"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _hit(scope: Scope) -> bytes | None:
        state = scope["app"].state
        routes: dict[str, EarlyRoute] | None = getattr(state, EARLY_ROUTES, None)
        if not routes:
            return None
        for name, _ in scope["headers"]:
            if name == b"authorization":
                return None
        path: str = scope["path"]
        for route in routes.values():
            match = route.pattern.fullmatch(path)
            if match is not None:
                key = route.key_for(match.groupdict(), scope.get("query_string", b""))
                break
        else:
            return None
        if key is None:
            return None
        backend: CacheBackend = state.cache
        try:
            return await backend.get(key)
        except CacheUnavailable:
            return None
