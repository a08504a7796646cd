"""Rate limiting: a sliding-window counter, atomic in Redis (one script call per check, shared
by every process) or in memory (the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.errors import AppError
from app.core.observe import hooks
from app.core.openapi import documents
from app.core.params import SPACE, SPACE_CHARS
from app.core.routing import full_path_template
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


# The sliding-window counter (the algorithm of the `limits` package's sliding-window-counter
# strategy, in one script): a "current" counter lives 2 x period from its first hit; once it
# is older than one period it becomes the "previous" one, whose count is weighted by the share
# of the period it still has to live. Counters are named by the identities and the period, not
# the limit: a limit lowered by an administrator applies at once to the counts already made.
# One call is one round trip: shift, check, count and read the figures together. With a guard
# (KEYS[3], a version key, and ARGV[4], the version the caller's limit was read at), a limit
# that has changed since is not applied: nothing is counted and the caller reloads its rules
# (see tiers/rules.py). Times are in milliseconds.
_WINDOW_SCRIPT = """
if KEYS[3] then
  local version = redis.call('GET', KEYS[3]) or '0'
  if version ~= ARGV[4] then return {-1, 0, 0} end
end
local limit, expiry, count = tonumber(ARGV[1]), tonumber(ARGV[2]) * 1000, tonumber(ARGV[3])
local previous_key, current_key = KEYS[1], KEYS[2]
local current_ttl = tonumber(redis.call('PTTL', current_key))
if current_ttl > 0 and current_ttl < expiry then
  redis.call('RENAME', current_key, previous_key)
  redis.call('SET', current_key, 0, 'PX', current_ttl + expiry)
end
local previous = tonumber(redis.call('GET', previous_key) or '0')
local previous_ttl = math.max(0, tonumber(redis.call('PTTL', previous_key)))
local current = tonumber(redis.call('GET', current_key) or '0')
current_ttl = math.max(0, tonumber(redis.call('PTTL', current_key)))
local allowed = 0
if math.floor(previous * previous_ttl / expiry) + current + 1 <= limit then
  allowed = 1
  if count == 1 then
    if redis.call('EXISTS', current_key) == 1 then
      redis.call('INCR', current_key)
    else
      redis.call('SET', current_key, 1, 'PX', expiry * 2)
      current_ttl = expiry * 2
    end
    current = current + 1
  end
end
local remaining = math.max(0, limit - math.floor(previous * previous_ttl / expiry + current))
local reset = 0
if previous > 0 or current > 0 then
  reset = math.huge
  if previous > 0 then reset = math.fmod(previous_ttl, expiry / previous) end
  if current > 0 then reset = math.min(reset, math.fmod(current_ttl, expiry)) end
end
return {allowed, remaining, math.ceil(reset / 1000)}
"""


STALE = "stale"


@dataclass(frozen=True, slots=True)
class Guard:
    """A limit's provenance: the version, under `key`, of the rules it was read from."""

    key: str
    version: str


class _Windows(Protocol):
    async def check(
        self, key: str, limit: Limit, count: bool, guard: Guard | None
    ) -> tuple[bool, int, int] | None:
        """(allowed, remaining, seconds until the current window ends), counting one hit when
        `count` and allowed; None, counting nothing, when the guard's version is not current."""

    async def clear(self, key: str) -> None: ...

    async def version(self, key: str) -> str: ...

    async def bump(self, key: str) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class _RedisWindows:
    """Counters in Redis, shared by every process; one script call per check."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._script = client.register_script(_WINDOW_SCRIPT)

    async def check(
        self, key: str, limit: Limit, count: bool, guard: Guard | None
    ) -> tuple[bool, int, int] | None:
        keys: list[str] = [key + "/-1", key]
        args: list[int | str] = [limit.limit, limit.period, 1 if count else 0]
        if guard is not None:
            keys.append(guard.key)
            args.append(guard.version)
        allowed, remaining, reset, *_ = await self._script(keys=keys, args=args)
        if allowed == -1:
            return None
        return bool(allowed), int(remaining), int(reset)

    async def version(self, key: str) -> str:
        value = await self.client.get(key)
        return value.decode() if isinstance(value, bytes) else str(value or "0")

    async def bump(self, key: str) -> None:
        await self.client.incr(key)

    async def clear(self, key: str) -> None:
        await self.client.delete(key, key + "/-1")

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()


class _MemoryWindows:
    """The same counters in this process (the embedded default)."""

    def __init__(self, max_counters: int = 100_000) -> None:
        self.max_counters = max_counters
        # key -> [previous count, previous expires at, current count, current expires at]
        self._windows: dict[str, list[float]] = {}
        self._versions: dict[str, int] = {}

    async def check(
        self, key: str, limit: Limit, count: bool, guard: Guard | None
    ) -> tuple[bool, int, int] | None:
        if guard is not None and guard.version != await self.version(guard.key):
            return None
        now, expiry = time.monotonic(), float(limit.period)
        window = self._windows.get(key)
        if window is None:
            window = [0, now, 0, now]
        previous, previous_until, current, current_until = window
        if current_until > now and current_until - now < expiry:  # shift
            previous, previous_until = current, current_until
            current, current_until = 0, current_until + expiry
        previous_ttl = max(0.0, previous_until - now) if previous_until > now else 0.0
        if previous_until <= now:
            previous = 0
        if current_until <= now:
            current = 0
        current_ttl = max(0.0, current_until - now)
        allowed = math.floor(previous * previous_ttl / expiry) + current + 1 <= limit.limit
        if allowed and count:
            if current_until <= now:
                current_until, current_ttl = now + 2 * expiry, 2 * expiry
            current += 1
        if len(self._windows) >= self.max_counters and key not in self._windows:
            self._windows = {k: v for k, v in self._windows.items() if max(v[1], v[3]) > now}
        self._windows[key] = [previous, previous_until, current, current_until]
        remaining = max(0, limit.limit - math.floor(previous * previous_ttl / expiry + current))
        reset = 0.0
        if previous or current:
            reset = math.inf
            if previous:
                reset = math.fmod(previous_ttl, expiry / previous)
            if current:
                reset = min(reset, math.fmod(current_ttl, expiry))
        return allowed, remaining, math.ceil(reset)

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    async def version(self, key: str) -> str:
        return str(self._versions.get(key, 0))

    async def bump(self, key: str) -> None:
        self._versions[key] = self._versions.get(key, 0) + 1

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._windows.clear()


class RateLimiter:
    """Counts hits per identity and path.

    verdict = await limiter.hit(Limit(10, 60), "ip:203.0.113.9", "api/v1/tasks/task")
    if verdict is not None and not verdict.allowed: ...
    """

    def __init__(self, windows: _Windows) -> None:
        self.windows = windows
        # Values this process keeps while their guard's version stands (tiers/rules.py).
        self.memo: dict[str, tuple[Guard, object]] = {}
        self._pending_bumps: set[str] = set()
        self._retry: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        url = settings.rate_limit_redis_url
        if url is None:
            return cls(_MemoryWindows())
        timeout = settings.REDIS_TIMEOUT_SECONDS
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(_RedisWindows(client))

    @staticmethod
    def _key(period: int, identifiers: tuple[str, ...]) -> str:
        return "rate-limit:" + "/".join((*identifiers, str(period)))

    async def hit(self, limit: Limit, *identifiers: str) -> Verdict | None:
        """Count one hit; None when the storage is unreachable (the request is let through)."""
        verdict = await self._check(limit, identifiers, count=True)
        return verdict if isinstance(verdict, Verdict) else None

    async def hit_guarded(
        self, limit: Limit, guard: Guard, *identifiers: str
    ) -> Verdict | str | None:
        """As `hit`, for a limit read from versioned rules: STALE, counting nothing, when the
        rules have changed since `guard.version`."""
        return await self._check(limit, identifiers, count=True, guard=guard)

    async def version(self, key: str) -> str | None:
        """The current version under `key` (None when the storage is unreachable)."""
        try:
            return await self.windows.version(key)
        except (RedisError, OSError):
            return None

    async def bump(self, key: str) -> None:
        """A new version under `key`: every guard naming an older one is stale from now on.
        A bump that cannot reach the storage is retried in the background until it lands (else
        the other processes would keep the old rules once the storage is back)."""
        try:
            await self.windows.bump(key)
        except (RedisError, OSError) as exc:
            logger.warning("rate-limit storage unavailable, version bump retried: %s", exc)
            self._pending_bumps.add(key)
            if self._retry is None or self._retry.done():
                self._retry = asyncio.create_task(self._retry_bumps())

    async def _apply_pending_bumps(self) -> None:
        for key in sorted(self._pending_bumps):
            await self.windows.bump(key)  # one bump stands for any number of missed ones
            self._pending_bumps.discard(key)

    async def _retry_bumps(self) -> None:
        delay = 0.05
        while self._pending_bumps:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            with contextlib.suppress(RedisError, OSError):
                await self._apply_pending_bumps()

    async def peek(self, limit: Limit, *identifiers: str) -> Verdict | None:
        """Whether one more hit would be allowed, without counting it."""
        verdict = await self._check(limit, identifiers, count=False)
        return verdict if isinstance(verdict, Verdict) else None

    async def clear(self, limit: Limit, *identifiers: str) -> None:
        """Forget the hits counted so far (a failure to reach the storage is only logged)."""
        try:
            await self.windows.clear(self._key(limit.period, identifiers))
        except (RedisError, OSError) as exc:
            logger.warning("rate-limit storage unavailable, not cleared: %s", type(exc).__name__)

    async def _check(
        self,
        limit: Limit,
        identifiers: tuple[str, ...],
        *,
        count: bool,
        guard: Guard | None = None,
    ) -> Verdict | str | None:
        key = self._key(limit.period, identifiers)
        try:
            figures = await self.windows.check(key, limit, count, guard)
        except (RedisError, OSError) as exc:
            logger.warning("rate-limit storage unavailable, not limiting: %s", type(exc).__name__)
            return None
        if figures is None:
            return STALE
        allowed, remaining, reset_after = figures
        return Verdict(allowed, limit.limit, remaining, max(1, reset_after))

    async def ping(self) -> bool:
        """True when the storage answers."""
        try:
            return await self.windows.ping()
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        if self._pending_bumps:
            with contextlib.suppress(RedisError, OSError):
                await self._apply_pending_bumps()
        if self._pending_bumps:
            logger.error(
                "rate-limit storage unreachable at shutdown: versions %s not bumped",
                sorted(self._pending_bumps),
            )
        await self.windows.close()


@documents(429, "Rate limit exceeded")
async def get_rate_limiter(request: Request) -> RateLimiter:
    return get_resources(request).rate_limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


def route_template(request: Request) -> str:
    """The matched route's full path template in normal form, e.g. 'api/v1/{username}/post'."""
    return normalize_path(full_path_template(request.scope) or request.url.path)


def client_ip(request: Request) -> str:
    """The socket peer; behind a proxy listed in TRUSTED_PROXIES, the address it forwarded."""
    return request.client.host if request.client else "unknown"


async def enforce(request: Request, verdict: Verdict | None) -> None:
    """Attach the limit headers to the response; raise 429 when the limit is exceeded."""
    if verdict is None:
        return
    request.state.rate_limit_headers = verdict.headers()
    if not verdict.allowed:
        hooks.rate_limited(full_path_template(request.scope))
        raise TooManyRequests(
            f"Rate limit exceeded: {verdict.limit} requests per window; retry in "
            f"{verdict.reset_after} s",
            headers=verdict.headers(),
        )
