"""Server-side response cache: backends (Redis, memory), the `cache` decorator and its keys,
the pages a domain forgets on events (`forget_pages`), and the path that answers hits before
routing. Domains import from here:

    from app.platform.cache import cache, forget_pages, invalidates
"""

from app.platform.cache.backends import (
    CacheBackend,
    CacheUnavailable,
    MemoryCache,
    RedisCache,
    create_cache,
)
from app.platform.cache.decorator import (
    CacheDep,
    cache,
    check_pattern,
    invalidate_after_commit,
    invalidate_now,
    invalidates,
)
from app.platform.cache.forget import forget_pages

__all__ = [
    "CacheBackend",
    "CacheDep",
    "CacheUnavailable",
    "MemoryCache",
    "RedisCache",
    "cache",
    "check_pattern",
    "create_cache",
    "forget_pages",
    "invalidate_after_commit",
    "invalidate_now",
    "invalidates",
]
