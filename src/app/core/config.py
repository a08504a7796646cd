"""Typed settings, read from the environment and an optional `.env` file.

Both spellings are accepted: the short form (`DATABASE_URL`, `REDIS_URL`) and the variable
names of the template this project replaces (`POSTGRES_*`, `REDIS_CACHE_HOST`, ...).
With nothing configured the app runs embedded: a SQLite file and in-process backends.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

DEFAULT_SECRET_KEY = "insecure-local-development-key-change-me"  # noqa: S105
DEFAULT_ADMIN_PASSWORD = "Change-me-1"  # noqa: S105
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./app.db"


# A host name, a *. wildcard of one, an IPv4 address, or a bracketed IPv6 address.
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_HOST_PATTERN = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*|\[[0-9a-f:.]+\]")


class Environment(StrEnum):
    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class ConfigError(Exception):
    """The configuration cannot be used; the message says why."""


# Every settings class reads the same sources the same way: the environment, then `.env`.
SOURCES = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    case_sensitive=False,
    env_ignore_empty=True,
)


class FeatureSettings(BaseSettings):
    """The settings one feature owns, declared in its `Domain(settings=...)` and read through
    `Settings.feature` (or a dependency the feature builds on it):

        class NoteSettings(FeatureSettings):
            NOTES_PER_USER: int = Field(default=100, ge=1)

        notes = resources.settings.feature(NoteSettings)

    They are read from the same sources as the core settings, and only while the feature is
    installed: deleting its package removes them."""

    model_config = SOURCES

    def problems(self, settings: Settings) -> list[str]:
        """What these settings refuse outside local use (`settings.is_local` is False)."""
        return []


F = TypeVar("F", bound=FeatureSettings)


class Settings(BaseSettings):
    model_config = SOURCES

    # The arguments the settings were built with (overrides, `_env_file`), which the
    # features' settings are read with too, and the features' settings read so far.
    _sources: dict[str, Any] = PrivateAttr(default_factory=dict)
    _features: dict[type[FeatureSettings], FeatureSettings] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._sources = values

    # app
    APP_NAME: str = "API starter"
    APP_DESCRIPTION: str = "An async REST API: users, JWT auth, posts, tiers, caching and jobs."
    APP_VERSION: str = "0.1.0"
    CONTACT_NAME: str | None = None
    CONTACT_EMAIL: str | None = None
    LICENSE_NAME: str | None = None
    ENVIRONMENT: Environment = Environment.LOCAL

    # crypt
    SECRET_KEY: SecretStr | None = None
    ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=7, ge=1, le=365)
    # Argon2id cost; the defaults are OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
    PASSWORD_HASH_MEMORY_KIB: int = Field(default=19456, ge=8192)
    PASSWORD_HASH_TIME_COST: int = Field(default=2, ge=1)
    PASSWORD_HASH_PARALLELISM: int = Field(default=1, ge=1)

    # database: DATABASE_URL wins; else POSTGRES_* when POSTGRES_SERVER or POSTGRES_DB is set
    DATABASE_URL: str | None = None
    POSTGRES_USER: str = "postgres"
    POSTGRES_PASSWORD: SecretStr = SecretStr("")
    POSTGRES_SERVER: str | None = None
    POSTGRES_PORT: int = 5432
    POSTGRES_DB: str | None = None
    # Connections kept open per process. Overflow connections are opened under load and closed
    # again when returned, so a steady load is served best by the pool itself.
    DATABASE_POOL_SIZE: int = Field(default=20, ge=1, le=1000)
    DATABASE_MAX_OVERFLOW: int = Field(default=0, ge=0, le=1000)
    # Ping each connection as it is taken from the pool (one round trip per request). Off: a
    # connection the database has ended (a restart) is found when it is next used, and every
    # connection of the pool opened before it is replaced as it is next taken; a read that
    # met it runs again on a fresh connection, a write gets a 503 with Retry-After.
    DATABASE_POOL_PRE_PING: bool = False
    DATABASE_POOL_TIMEOUT: float = Field(default=10.0, gt=0)
    DATABASE_ECHO: bool = False
    # Connections all `app serve` workers of one server may open together: when set, each of
    # N workers gets at most DATABASE_MAX_CONNECTIONS // N (pool size + overflow)
    DATABASE_MAX_CONNECTIONS: int | None = Field(default=None, ge=1, le=100_000)

    # redis: REDIS_URL serves all three uses; a *_HOST variable overrides one use
    REDIS_URL: str | None = None
    REDIS_CACHE_HOST: str | None = None
    REDIS_CACHE_PORT: int = 6379
    REDIS_QUEUE_HOST: str | None = None
    REDIS_QUEUE_PORT: int = 6379
    REDIS_RATE_LIMIT_HOST: str | None = None
    REDIS_RATE_LIMIT_PORT: int = 6379
    # How long a Redis call may take before the app carries on without it
    REDIS_TIMEOUT_SECONDS: float = Field(default=1.0, gt=0, le=30)

    # client-side cache and rate limits
    CLIENT_CACHE_MAX_AGE: int = Field(default=30, ge=0)
    # After a write, how long responses computed before it may not be cached (seconds; kept to
    # the millisecond)
    CACHE_WRITE_FENCE_SECONDS: float = Field(default=10, ge=0.05, le=3600)
    # Login attempts, per client IP and per account (username or email)
    LOGIN_RATE_LIMIT_LIMIT: int = Field(default=20, ge=1)
    LOGIN_RATE_LIMIT_PERIOD: int = Field(default=60, ge=1)
    LOGIN_ACCOUNT_RATE_LIMIT_LIMIT: int = Field(default=10, ge=1)
    LOGIN_ACCOUNT_RATE_LIMIT_PERIOD: int = Field(default=300, ge=1)
    # Proxies whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated); default none
    TRUSTED_PROXIES: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The host names clients reach the API by (comma-separated; `*.example.com` matches its
    # subdomains, `*` any host). Outside local it must be set: a request whose Host is not on
    # it gets a 400 (GET /health and a collector's scrape path, such as /metrics, excepted:
    # probes and scrapers use internal names). In local every host is accepted.
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # jobs: the worker (`app worker`) and the embedded in-process runner
    WORKER_JOB_TIMEOUT_SECONDS: int = Field(default=300, ge=1, le=86_400)
    WORKER_MAX_TRIES: int = Field(default=5, ge=1, le=100)
    WORKER_MAX_JOBS: int = Field(default=10, ge=1, le=1000)
    # On SIGTERM, how long running jobs may finish before they are handed back to the queue
    WORKER_SHUTDOWN_GRACE_SECONDS: int = Field(default=30, ge=0, le=3600)
    JOB_KEEP_RESULT_SECONDS: int = Field(default=3600, ge=1, le=30 * 86_400)
    # A file `app worker` touches (every 5 s at most) while its polls of the queue succeed,
    # and removes while Redis is unreachable, for a container healthcheck to read; empty: none
    WORKER_HEARTBEAT_FILE: Path | None = None
    # The example job of posts: when deleted posts are purged
    PURGE_DELETED_POSTS_AFTER_DAYS: int = Field(default=30, ge=1)

    # first admin
    ADMIN_NAME: str = "Admin"
    ADMIN_EMAIL: str = "admin@example.com"
    ADMIN_USERNAME: str = "admin"
    ADMIN_PASSWORD: SecretStr = SecretStr(DEFAULT_ADMIN_PASSWORD)

    # server (`app serve`)
    # Server processes (`app serve --workers N` sets it for the processes it starts); each
    # takes its share of DATABASE_MAX_CONNECTIONS and of the cores for password hashing.
    WEB_CONCURRENCY: int = Field(default=1, ge=1, le=256)
    # The HTTP server of `app serve` (see bench/README.md for how they compare here).
    WEB_SERVER: Literal["granian", "uvicorn"] = "uvicorn"
    # On SIGTERM, seconds in-flight requests may finish before the server closes
    GRACEFUL_TIMEOUT_SECONDS: int = Field(default=30, ge=0, le=3600)
    KEEP_ALIVE_SECONDS: int = Field(default=5, ge=1, le=3600)

    # requests
    MAX_REQUEST_BODY_BYTES: int = Field(default=1_048_576, ge=1024)
    # Seconds a request's body may take to arrive, counted from its headers; a slower one is
    # answered 408. The body is read before the request waits for admission, so a slow sender
    # holds no slot meanwhile.
    REQUEST_BODY_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0, le=3600)
    # Seconds a client may take to send a request's headers (the connection is closed, with a
    # 408 when some were sent). Under Granian it is also how long an idle keep-alive
    # connection stays open: Granian has no other setting for it.
    REQUEST_HEADERS_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=600)
    # Headers per request, and bytes of the request line and headers together; more is
    # answered 431. Granian allows 100 headers at most, and 8 KiB is its smallest head buffer.
    MAX_REQUEST_HEADERS: int = Field(default=100, ge=10, le=100)
    MAX_REQUEST_HEADER_BYTES: int = Field(default=32_768, ge=8192, le=1_048_576)
    # Per server process: requests running at once; more wait in arrival order, and one that
    # waits longer than QUEUE_TIMEOUT_SECONDS is answered 503 with Retry-After.
    MAX_IN_FLIGHT_REQUESTS: int = Field(default=64, ge=1, le=100_000)
    QUEUE_TIMEOUT_SECONDS: float = Field(default=3.0, gt=0, le=600)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text: one readable line per record; json: one JSON object per line
    LOG_FORMAT: Literal["text", "json"] = "text"

    @field_validator("TRUSTED_PROXIES", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("ALLOWED_HOSTS", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ALLOWED_HOSTS")
    @classmethod
    def _valid_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*" and not _HOST_PATTERN.fullmatch(entry):
                raise ValueError(
                    f"{entry!r} is not a host name (example.com, *.example.com, 10.0.0.5, [::1] "
                    "or *), without a scheme or port"
                )
        return value

    @property
    def is_local(self) -> bool:
        return self.ENVIRONMENT is Environment.LOCAL

    @property
    def allowed_hosts(self) -> frozenset[str] | None:
        """The hosts requests may name; None: any (local, or ALLOWED_HOSTS=*)."""
        if self.is_local or "*" in self.ALLOWED_HOSTS:
            return None
        return frozenset(self.ALLOWED_HOSTS)

    @property
    def database_url(self) -> URL:
        if self.DATABASE_URL:
            url = make_url(self.DATABASE_URL)
            if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
                url = url.set(drivername="postgresql+asyncpg")
            elif url.drivername == "sqlite":
                url = url.set(drivername="sqlite+aiosqlite")
            return url
        if self.POSTGRES_SERVER or self.POSTGRES_DB:
            return URL.create(
                "postgresql+asyncpg",
                username=self.POSTGRES_USER,
                password=self.POSTGRES_PASSWORD.get_secret_value() or None,
                host=self.POSTGRES_SERVER or "localhost",
                port=self.POSTGRES_PORT,
                database=self.POSTGRES_DB or "postgres",
            )
        return make_url(DEFAULT_SQLITE_URL)

    def pool_limits(self) -> tuple[int, int]:
        """(pool size, max overflow) for one of the WEB_CONCURRENCY server processes."""
        size, overflow = self.DATABASE_POOL_SIZE, self.DATABASE_MAX_OVERFLOW
        if self.DATABASE_MAX_CONNECTIONS is None:
            return size, overflow
        share = max(1, self.DATABASE_MAX_CONNECTIONS // self.WEB_CONCURRENCY)
        size = min(size, share)
        return size, min(overflow, share - size)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_backend_name() == "sqlite"

    def _redis_url(self, host: str | None, port: int) -> str | None:
        if host:
            return f"redis://{host}:{port}/0"
        return self.REDIS_URL

    @property
    def cache_redis_url(self) -> str | None:
        return self._redis_url(self.REDIS_CACHE_HOST, self.REDIS_CACHE_PORT)

    @property
    def queue_redis_url(self) -> str | None:
        return self._redis_url(self.REDIS_QUEUE_HOST, self.REDIS_QUEUE_PORT)

    @property
    def rate_limit_redis_url(self) -> str | None:
        return self._redis_url(self.REDIS_RATE_LIMIT_HOST, self.REDIS_RATE_LIMIT_PORT)

    @property
    def is_embedded(self) -> bool:
        """True when any backend is the single-process embedded one."""
        return self.is_sqlite or not all(
            (self.cache_redis_url, self.queue_redis_url, self.rate_limit_redis_url)
        )

    @property
    def secret_key(self) -> str:
        return self.SECRET_KEY.get_secret_value() if self.SECRET_KEY else DEFAULT_SECRET_KEY

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> Settings:
        if self.is_local:
            return self
        problems = []
        key = self.SECRET_KEY.get_secret_value() if self.SECRET_KEY else ""
        if not key or key == DEFAULT_SECRET_KEY:
            problems.append("SECRET_KEY is missing or the default (run: openssl rand -hex 32)")
        elif len(key) < 32:
            problems.append("SECRET_KEY must be at least 32 characters")
        if self.ADMIN_PASSWORD.get_secret_value() == DEFAULT_ADMIN_PASSWORD:
            problems.append("ADMIN_PASSWORD is the default")
        if not self.ALLOWED_HOSTS:
            problems.append(
                "ALLOWED_HOSTS is missing: the host names clients reach the API by "
                "(comma-separated; * accepts any)"
            )
        if self.is_sqlite:
            problems.append("the embedded SQLite database is for local use (set DATABASE_URL)")
        if not self.cache_redis_url or not self.queue_redis_url or not self.rate_limit_redis_url:
            problems.append(
                "the in-process cache, queue and rate limits are for local use (set REDIS_URL)"
            )
        if problems:
            raise ValueError(
                f"ENVIRONMENT={self.ENVIRONMENT.value} refuses: " + "; ".join(problems)
            )
        return self

    def feature(self, cls: type[F]) -> F:
        """The settings of one feature, read (and checked) the first time they are asked
        for, from the sources these settings were read from; a bad value is a ConfigError.
        `load_features` reads every installed feature's at start-up."""
        found = self._features.get(cls)
        if found is None:
            values = {
                key: value
                for key, value in self._sources.items()
                if key.startswith("_") or key.upper() in cls.model_fields
            }
            found = _readable_errors(cls, values)
            if not self.is_local:
                problems = found.problems(self)
                if problems:
                    raise ConfigError(
                        f"invalid configuration: ENVIRONMENT={self.ENVIRONMENT.value} "
                        "refuses: " + "; ".join(problems)
                    )
            self._features[cls] = found
        return found  # type: ignore[return-value]

    def load_features(self, classes: Iterable[type[FeatureSettings]]) -> None:
        """Read and check every one of these features' settings now (at start-up), so that a
        bad value stops the process before it serves anything. A setting two features both
        declare is refused: each name has one owner."""
        owners: dict[str, str] = dict.fromkeys(type(self).model_fields, "core")
        for cls in classes:
            for name in cls.model_fields:
                owner = owners.setdefault(name, cls.__name__)
                if owner != cls.__name__:
                    raise ConfigError(f"setting {name} is declared by {owner} and {cls.__name__}")
            self.feature(cls)

    def features(self) -> tuple[FeatureSettings, ...]:
        """The features' settings read so far."""
        return tuple(self._features.values())


S = TypeVar("S", bound=BaseSettings)


def _readable_errors(cls: type[S], values: dict[str, Any]) -> S:
    """`cls(**values)`, its validation errors turned into one readable `ConfigError`."""
    try:
        return cls(**values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one readable `ConfigError`."""
    return _readable_errors(Settings, overrides)
