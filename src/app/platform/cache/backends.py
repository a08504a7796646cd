"""Cache backends: Redis in production, process memory in the embedded default.

Keys are `{namespace}:{rest}`. Each namespace keeps an index of its keys, so a pattern such as
`alice_posts:*` is invalidated from that index instead of scanning the keyspace.

A stale read is prevented by write fences: invalidating a key (or a namespace) leaves a
short-lived fence, and a response computed before the write cannot be stored while the fence
stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import re
import time
from collections.abc import Sequence
from typing import Protocol, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings

logger = logging.getLogger(__name__)

FENCE_PREFIX = "cache-fence:"
INDEX_PREFIX = "cache-index:"


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


# One invalidation, one round trip: fence and delete the keys (KEYS[1..n]); for each pattern,
# fence its namespace and delete the members of the namespace's index (KEYS[n+j]) that match
# it (ARGV[3+m+j], a Lua pattern made from the glob by `_lua_pattern`).
_INVALIDATE_SCRIPT = """
local ttl, n = ARGV[1], tonumber(ARGV[2])
local m = #KEYS - n
local doomed = {}
for i = 1, n do
  redis.call('SET', ARGV[2 + i], 1, 'PX', ttl)
  doomed[#doomed + 1] = KEYS[i]
end
for j = 1, m do
  redis.call('SET', ARGV[2 + n + j], 1, 'PX', ttl)
  local index, pattern = KEYS[n + j], ARGV[2 + n + m + j]
  for _, member in ipairs(redis.call('SMEMBERS', index)) do
    if string.match(member, pattern) then
      redis.call('SREM', index, member)
      doomed[#doomed + 1] = member
    end
  end
end
for i = 1, #doomed, 1000 do
  redis.call('DEL', unpack(doomed, i, math.min(i + 999, #doomed)))
end
return #doomed
"""


def _lua_pattern(glob: str) -> str:
    """A glob (fnmatch's `*`, `?`, `[...]`, `[!...]`) as an anchored Lua pattern."""

    def literal(ch: str) -> str:
        return ch if ch.isalnum() else "%" + ch

    out, i = ["^"], 0
    while i < len(glob):
        ch = glob[i]
        i += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i
            if j < len(glob) and glob[j] == "!":
                j += 1
            if j < len(glob) and glob[j] == "]":
                j += 1
            while j < len(glob) and glob[j] != "]":
                j += 1
            if j >= len(glob):  # no closing bracket: a literal '['
                out.append("%[")
                continue
            members = glob[i:j]
            i = j + 1
            negate = members.startswith("!")
            if negate:
                members = members[1:]
            parts, k = [], 0
            while k < len(members):
                if k + 2 < len(members) and members[k + 1] == "-":
                    parts.append(f"{literal(members[k])}-{literal(members[k + 2])}")
                    k += 3
                else:
                    parts.append(literal(members[k]))
                    k += 1
            out.append("[" + ("^" if negate else "") + "".join(parts) + "]")
        else:
            out.append(literal(ch))
    out.append("$")
    return "".join(out)


class RedisCache:
    """The shared backend: every app process sees the same entries and fences.

    An invalidation that cannot reach Redis is kept and retried in the background until it
    lands; until then this process neither reads nor stores entries, so it never serves what a
    write of its own has made stale.
    """

    def __init__(self, client: Redis, fence_seconds: float, retry_max_seconds: float = 1.0) -> None:
        self.client = client
        self.fence_seconds = fence_seconds
        self.fence_milliseconds = max(1, round(fence_seconds * 1000))
        self.retry_max_seconds = retry_max_seconds
        self._set_script = client.register_script(_SET_SCRIPT)
        self._invalidate_script = client.register_script(_INVALIDATE_SCRIPT)
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
        if not keys and not patterns:
            return
        namespaces = [namespace_of(p) for p in patterns]
        await self._invalidate_script(
            keys=[*keys, *(INDEX_PREFIX + ns for ns in namespaces)],
            args=[
                self.fence_milliseconds,
                len(keys),
                *(FENCE_PREFIX + key for key in keys),
                *(FENCE_PREFIX + ns for ns in namespaces),
                *(_lua_pattern(p) for p in patterns),
            ],
        )

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

    def __init__(self, fence_seconds: float, max_entries: int = 10_000) -> None:
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


def create_cache(settings: Settings) -> CacheBackend:
    fence = settings.CACHE_WRITE_FENCE_SECONDS
    url = settings.cache_redis_url
    if url is None:
        return MemoryCache(fence)
    timeout = settings.REDIS_TIMEOUT_SECONDS
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return RedisCache(client, fence)
