"""Server-side response cache: backends (Redis, memory), the `cache` decorator and its keys,
and the path that answers hits before routing. Domains import from here:

    from app.core.cache import cache, invalidates
"""

from app.core.cache.backends import (
    CacheBackend,
    CacheUnavailable,
    MemoryCache,
    RedisCache,
    create_cache,
)
from app.core.cache.decorator import (
    CacheDep,
    OwnerPages,
    UserPagesDep,
    cache,
    check_pattern,
    invalidate_after_commit,
    invalidate_now,
    invalidates,
)

__all__ = [
    "CacheBackend",
    "CacheDep",
    "CacheUnavailable",
    "MemoryCache",
    "OwnerPages",
    "RedisCache",
    "UserPagesDep",
    "cache",
    "check_pattern",
    "create_cache",
    "invalidate_after_commit",
    "invalidate_now",
    "invalidates",
]
