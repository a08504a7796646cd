"""The settings the tests run the app with: in-process (`make_settings`) and as processes of
their own (`app_env`), on the run's PostgreSQL database and its own Redis database."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.core.config import Settings, load_settings
from app.domains import feature_settings
from tests.helpers.processes import clean_env, free_port


def _claim_redis_database() -> tuple[str, Any]:
    """A database of the Redis server at TEST_REDIS_URL (default the local one) that no other
    test process on this machine holds: each process flushes its own, so two runs, or two
    workers of one run, never share one. Databases 15 down to 1 (0 is left to development)."""
    server = urlsplit(os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379")
    where = f"{server.hostname}-{server.port or 6379}"
    tag = "" if where == "127.0.0.1-6379" else "".join(c if c.isalnum() else "-" for c in where)
    for number in range(15, 0, -1):
        lock_path = Path(tempfile.gettempdir()) / f"app-tests-redis-{tag}db-{number}.lock"
        handle = lock_path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return urlunsplit(server._replace(path=f"/{number}")), handle
    raise RuntimeError(f"every Redis test database of {server.hostname}:{server.port} is in use")


# Claimed once, when this module is first imported; held until the run ends.
TEST_REDIS_URL, _REDIS_LOCK = _claim_redis_database()
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
PASSWORD = "correct-horse-1"
# The hosts the tests reach the app by: the in-process client's, and loopback.
TEST_ALLOWED_HOSTS = "test,localhost,127.0.0.1,[::1]"
# How long a write keeps the cache from storing what it changed (tests/helpers/cache.py waits
# it out).
CACHE_WRITE_FENCE_SECONDS = 0.5
# Argon2id at its cheapest (the settings' minimums): real hashes, a tenth of the default's
# cost, paid at every sign-up and sign-in. Tests of the cost itself set their own.
CHEAP_HASHING = {"PASSWORD_HASH_MEMORY_KIB": 8192, "PASSWORD_HASH_TIME_COST": 1}
# Nothing listens on port 1: a database that is down.
UNREACHABLE_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


def unreachable_redis_url() -> str:
    """A Redis URL on a port nothing listens on: Redis that is down."""
    return f"redis://127.0.0.1:{free_port()}/0"


def load_with_features(**values: Any) -> Settings:
    """The settings as a process reads them at start-up: the core ones, then every installed
    feature's, each read and checked (a `ConfigError` when they refuse)."""
    settings = load_settings(**values)
    settings.load_features(feature_settings())
    return settings


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ENVIRONMENT": "local",
        "LOG_LEVEL": "WARNING",
        # Generous limits: the rate-limit tests set their own.
        "DEFAULT_RATE_LIMIT_LIMIT": 100_000,
        "LOGIN_RATE_LIMIT_LIMIT": 100_000,
        "LOGIN_ACCOUNT_RATE_LIMIT_LIMIT": 100_000,
        "CACHE_WRITE_FENCE_SECONDS": CACHE_WRITE_FENCE_SECONDS,
        **CHEAP_HASHING,
        # Needed outside local (ignored in local): the test client's host and loopback.
        "ALLOWED_HOSTS": TEST_ALLOWED_HOSTS,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def app_env(database_url: str, **values: object) -> dict[str, str]:
    """The environment of an `app` process on the run's database and Redis, plus `values`
    (None: left out)."""
    settings: dict[str, object] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ALLOWED_HOSTS": TEST_ALLOWED_HOSTS,
        **CHEAP_HASHING,
    }
    return clean_env(**{**settings, **values})
