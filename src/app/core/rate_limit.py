"""Rate limiting with the `limits` package: a sliding-window counter, atomic in Redis (shared by
every process) or in memory (the embedded default)."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.limits import safe_string

from app.core.config import Settings
from app.core.errors import AppError
from app.core.params import SPACE, SPACE_CHARS
from app.core.state import get_resources

logger = logging.getLogger(__name__)

MAX_PATH_LENGTH = 255
_PATH_CHARS = re.compile(r"^[A-Za-z0-9_\-.~/{}]*$")
# What validate_path accepts (of at most MAX_PATH_LENGTH characters), as a JSON Schema `pattern`:
# whitespace, path characters with one that is not a slash, whitespace, a query or fragment.
PATH_PATTERN = (
    rf"^[{SPACE}]*/*[A-Za-z0-9_\-.~{{}}][A-Za-z0-9_\-.~/{{}}]*[{SPACE}]*(?:[?#][\s\S]*)?$"
)


class TooManyRequests(AppError):
    status_code = 429
    default_detail = "Rate limit exceeded"


def normalize_path(path: str) -> str:
    """The one stored form of a path: no query, no leading, trailing or doubled slashes.

    >>> normalize_path("/api/v1//tasks/task/")
    'api/v1/tasks/task'
    """
    path = path.split("?", 1)[0].split("#", 1)[0].strip()
    return "/".join(part for part in path.split("/") if part)


def validate_path(path: str) -> str:
    """The normal form of a rate limit's path (see PATH_PATTERN, which the schema publishes)."""
    given = path.split("?", 1)[0].split("#", 1)[0].strip(SPACE_CHARS)
    normal = normalize_path(given)
    if not normal or len(path) > MAX_PATH_LENGTH or not _PATH_CHARS.match(given):
        raise ValueError(
            "path must be a URL path such as 'api/v1/tasks/task' (letters, digits, - _ . ~ / {})"
        )
    return normal


@dataclass(frozen=True, slots=True)
class Limit:
    limit: int
    period: int


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        values = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            values["Retry-After"] = str(self.reset_after)
        return values


class _Window(RateLimitItemPerSecond):
    """A window whose counter is named by its identifiers and period, not by its limit: a
    limit changed by an administrator applies to the counts already made in the window (a
    caller who has made as many requests as the new limit is refused at once)."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        parts = [safe_string(part) for part in (*identifiers, self.multiples)]
        return "/".join([self.namespace, *parts, self.GRANULARITY.name])


class RateLimiter:
    """Counts hits per identity and path.

    verdict = await limiter.hit(Limit(10, 60), "ip:203.0.113.9", "api/v1/tasks/task")
    if verdict is not None and not verdict.allowed: ...
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        url = settings.rate_limit_redis_url
        if url is None:
            return cls(MemoryStorage())
        timeout = settings.REDIS_TIMEOUT_SECONDS
        storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix="rate-limit",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        return cls(storage)

    async def hit(self, limit: Limit, *identifiers: str) -> Verdict | None:
        """Count one hit; None when the storage is unreachable (the request is let through)."""
        return await self._check(limit, identifiers, count=True)

    async def peek(self, limit: Limit, *identifiers: str) -> Verdict | None:
        """Whether one more hit would be allowed, without counting it."""
        return await self._check(limit, identifiers, count=False)

    async def clear(self, limit: Limit, *identifiers: str) -> None:
        """Forget the hits counted so far (a failure to reach the storage is only logged)."""
        try:
            await self._strategy.clear(_Window(limit.limit, limit.period), *identifiers)
        except Exception as exc:  # the storage's client errors vary with the backend
            logger.warning("rate-limit storage unavailable, not cleared: %s", type(exc).__name__)

    async def _check(
        self, limit: Limit, identifiers: tuple[str, ...], *, count: bool
    ) -> Verdict | None:
        item = _Window(limit.limit, limit.period)
        try:
            if count:
                allowed = await self._strategy.hit(item, *identifiers)
            else:
                allowed = await self._strategy.test(item, *identifiers)
            stats = await self._strategy.get_window_stats(item, *identifiers)
        except Exception as exc:  # the storage's client errors vary with the backend
            logger.warning("rate-limit storage unavailable, not limiting: %s", type(exc).__name__)
            return None
        reset_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, limit.limit, max(0, stats.remaining), reset_after)

    async def ping(self) -> bool:
        """True when the storage answers."""
        try:
            return bool(await self.storage.check())
        except Exception:  # the storage's client errors vary with the backend
            return False

    async def close(self) -> None:
        closer = getattr(self.storage, "aclose", None) or getattr(self.storage, "close", None)
        if closer is not None:
            result = closer()
            if isinstance(result, Awaitable):
                await result


async def get_rate_limiter(request: Request) -> RateLimiter:
    return get_resources(request).rate_limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


def full_path_template(request: Request) -> str | None:
    """The matched route's path template with its routers' prefixes, e.g.
    '/api/v1/{username}/post'; None when the request matched no route."""
    path_format: str | None = getattr(request.scope.get("route"), "path_format", None)
    if not path_format:
        return None
    # The route knows only its own part of the path; the routers' prefixes are what the
    # request path has in front of that part.
    try:
        concrete = path_format.format(**request.path_params)
    except (KeyError, IndexError, ValueError):
        return None
    path = request.url.path
    prefix = path[: len(path) - len(concrete)] if path.endswith(concrete) else ""
    return prefix + path_format


def route_template(request: Request) -> str:
    """The matched route's full path template in normal form, e.g. 'api/v1/{username}/post'."""
    return normalize_path(full_path_template(request) or request.url.path)


def client_ip(request: Request) -> str:
    """The socket peer; behind a proxy listed in TRUSTED_PROXIES, the address it forwarded."""
    return request.client.host if request.client else "unknown"


async def enforce(request: Request, verdict: Verdict | None) -> None:
    """Attach the limit headers to the response; raise 429 when the limit is exceeded."""
    if verdict is None:
        return
    request.state.rate_limit_headers = verdict.headers()
    if not verdict.allowed:
        raise TooManyRequests(
            f"Rate limit exceeded: {verdict.limit} requests per window; retry in "
            f"{verdict.reset_after} s",
            headers=verdict.headers(),
        )
