"""The settings the tests run the app with: in-process (`make_settings`) and as processes of
their own (`app_env`), on the run's PostgreSQL database and its own Redis database."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any

from app.core.config import Settings, load_settings
from app.domains import feature_settings
from tests.helpers.processes import clean_env, free_port


def _claim_redis_database() -> tuple[str, Any]:
    """TEST_REDIS_URL, or a database of the local Redis that no other test run on this machine
    holds (runs flush their database, so two runs must not share one)."""
    if "TEST_REDIS_URL" in os.environ:
        return os.environ["TEST_REDIS_URL"], None
    for number in range(15, 0, -1):
        lock_path = Path(tempfile.gettempdir()) / f"app-tests-redis-db-{number}.lock"
        handle = lock_path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return f"redis://127.0.0.1:6379/{number}", handle
    raise RuntimeError("every Redis test database is in use; set TEST_REDIS_URL")


# Claimed once, when this module is first imported; held until the run ends.
TEST_REDIS_URL, _REDIS_LOCK = _claim_redis_database()
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
PASSWORD = "correct-horse-1"
# The hosts the tests reach the app by: the in-process client's, and loopback.
TEST_ALLOWED_HOSTS = "test,localhost,127.0.0.1,[::1]"
# How long a write keeps the cache from storing what it changed (tests/helpers/cache.py waits
# it out).
CACHE_WRITE_FENCE_SECONDS = 1
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
    }
    return clean_env(**{**settings, **values})
