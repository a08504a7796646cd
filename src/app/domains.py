"""The list of domains: the one place that names them. The API router (`api.py`), the model
registry (`metadata` below, for Alembic and every process that opens the database), the jobs
(`jobs.py`, for the worker and the embedded runner), the permissions (`GET /permissions`),
the user-page invalidations, the event handlers, the authenticators and the permission source
are built from it. Adding an entity is one
new folder with its `domain.py`, and one line here.
"""

from __future__ import annotations

from typing import Any

from app.admin.domain import domain as admin
from app.api_keys.domain import domain as api_keys
from app.auth.domain import domain as auth
from app.core import permissions
from app.core.commands import Command
from app.core.config import FeatureSettings
from app.core.db import Base
from app.core.domain import Domain
from app.core.events import Handler
from app.core.identity import Authenticator, PermissionSource
from app.core.mail.domain import domain as mail
from app.docs import domain as docs
from app.posts.domain import domain as posts
from app.roles.domain import domain as roles
from app.tasks.domain import domain as tasks
from app.tiers.domain import domain as tiers
from app.users.domain import domain as users

DOMAINS: tuple[Domain, ...] = (
    mail,
    auth,
    users,
    roles,
    api_keys,
    tiers,
    tasks,
    posts,
    docs,
    admin,
)

# Every domain's permissions, for GET /permissions, roles and the superusers' "all".
permissions.register(p for domain in DOMAINS for p in domain.permissions)

# Every model of every domain is imported above, so the metadata holds the whole schema.
metadata = Base.metadata


def user_cache_patterns() -> tuple[str, ...]:
    """Every domain's cache patterns of one user's pages (filled with `{username}`)."""
    return tuple(pattern for domain in DOMAINS for pattern in domain.user_cache_patterns)


def feature_settings() -> tuple[type[FeatureSettings], ...]:
    """Every domain's own settings class."""
    return tuple(domain.settings for domain in DOMAINS if domain.settings is not None)


def commands() -> tuple[Command, ...]:
    """Every domain's `app` subcommands."""
    return tuple(command for domain in DOMAINS for command in domain.commands)


def event_handlers() -> tuple[Handler[Any], ...]:
    """Every domain's event handlers, in the order of DOMAINS."""
    return tuple(handler for domain in DOMAINS for handler in domain.handlers)


def authenticators() -> tuple[Authenticator, ...]:
    """Every domain's kinds of credentials, in the order of DOMAINS (as the document lists
    them)."""
    return tuple(found for domain in DOMAINS for found in domain.authenticators)


def permission_source() -> PermissionSource | None:
    """The permission source of the one domain that has one; None when none has: superusers
    then hold every permission, and nobody else any."""
    sources = [domain for domain in DOMAINS if domain.permission_source is not None]
    if len(sources) > 1:
        names = ", ".join(domain.name for domain in sources)
        raise RuntimeError(f"only one domain may be the permission source, not: {names}")
    return sources[0].permission_source if sources else None
