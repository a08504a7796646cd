"""The resources a process runs on, built in one place and reached through one typed getter.

The app's lifespan, the worker and the CLI open them with `app.resources.open_resources`;
request dependencies (`DbDep`, `CacheDep`, ...) read them with `get_resources`, jobs from
their context (`ctx["resources"]`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.extensions import Extensions

if TYPE_CHECKING:
    from app.core.events import Events
    from app.core.identity import Identity
    from app.core.permissions import PermissionCache
    from app.platform.cache.backends import CacheBackend
    from app.platform.queue.jobs import JobQueue
    from app.platform.rate_limit import RateLimiter
    from app.platform.security import PasswordHasher, TokenCodec

_STATE_KEY = "resources"


@dataclass(slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    hasher: PasswordHasher
    token_codec: TokenCodec
    cache: CacheBackend
    rate_limiter: RateLimiter
    queue: JobQueue
    # Every domain's authenticators and the permission source (core/identity.py).
    identity: Identity
    # Users' permissions under the grants version they were read at (core/permissions.py).
    permissions: PermissionCache
    # Every domain's reactions to events (core/events.py).
    events: Events
    # The API's path words (core/routing.py `path_words`), from the app's routes at
    # start-up; empty in the worker and the CLI, which serve no routes.
    path_words: frozenset[str] = frozenset()
    # What installed features offer other packages (core/extensions.py), built once the
    # fields above are set.
    extensions: Extensions = field(default_factory=Extensions)


def attach(app: FastAPI, resources: Resources | None) -> None:
    setattr(app.state, _STATE_KEY, resources)


def resources_of(app: FastAPI) -> Resources:
    resources: Resources | None = getattr(app.state, _STATE_KEY, None)
    if resources is None:
        raise RuntimeError("the app's resources are opened by its lifespan; start it first")
    return resources


def get_resources(request: Request) -> Resources:
    return resources_of(request.app)


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings(request: Request) -> Settings:
    return get_resources(request).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
