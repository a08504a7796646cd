"""The list of domains: the one place that names them. The API router (`api.py`), the model
registry (`metadata` below, for Alembic and every process that opens the database), the jobs
(`jobs.py`, for the worker and the embedded runner), the permissions (`GET /permissions`),
the event reactions, the admin panel's views, the authenticators, the permission source and
the caller columns, Alembic's version locations (each domain's own branch), and what features
add to the processes that serve (collectors, root paths, lifespans, `app serve` and
`app worker` wrappers, extensions) are built from it. Adding an entity is one new folder with its
`domain.py`, and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqladmin import ModelView
from sqlalchemy.sql.elements import Label

from app.core import permissions
from app.core.commands import Command
from app.core.config import FeatureSettings, Settings
from app.core.db import Base
from app.core.domain import Domain
from app.core.events import Reaction
from app.core.extensions import Extension
from app.core.identity import Authenticator, PermissionSource
from app.core.observe import Collector
from app.core.state import Resources

# One line per domain: the module that declares its `domain`. Deleting an optional feature's
# line, with its `src/app/<pkg>/` and `tests/<pkg>/`, removes it (README, "Removing a feature").
# Routes are matched, and event handlers run, in this order.
DOMAIN_MODULES = (
    "app.mail.domain",
    "app.auth.domain",
    "app.users.domain",
    "app.accounts.domain",
    "app.roles.domain",
    "app.api_keys.domain",
    "app.tiers.domain",
    "app.tasks.domain",
    "app.posts.domain",
    "app.docs",
    "app.admin.domain",
    "app.metrics.domain",
)


def _load(module_name: str) -> Domain:
    declared = getattr(import_module(module_name), "domain", None)
    if not isinstance(declared, Domain):
        raise TypeError(f"{module_name} declares no `domain = Domain(...)`")
    return declared


DOMAINS: tuple[Domain, ...] = tuple(_load(name) for name in DOMAIN_MODULES)

# Every domain's permissions, for GET /permissions, roles and the superusers' "all".
permissions.register(p for domain in DOMAINS for p in domain.permissions)

# Every domain's models are imported with it above, so the metadata holds the whole schema.
metadata = Base.metadata


def feature_settings() -> tuple[type[FeatureSettings], ...]:
    """Every domain's own settings class."""
    return tuple(domain.settings for domain in DOMAINS if domain.settings is not None)


def commands() -> tuple[Command, ...]:
    """Every domain's `app` subcommands."""
    return tuple(command for domain in DOMAINS for command in domain.commands)


def event_handlers() -> tuple[Reaction, ...]:
    """Every domain's reactions to events, in the order of DOMAINS."""
    return tuple(handler for domain in DOMAINS for handler in domain.handlers)


def migration_locations() -> tuple[Path, ...]:
    """Every domain's folder of Alembic revisions (its own branch), for `app migrate`, the
    `alembic` command (migrations/env.py) and the drift check."""
    return tuple(domain.migrations for domain in DOMAINS if domain.migrations is not None)


def collectors(settings: Settings) -> tuple[Collector, ...]:
    """The collectors these settings turn on (core/observe.py)."""
    made = (make(settings) for domain in DOMAINS for make in domain.collectors)
    return tuple(collector for collector in made if collector is not None)


def app_installers() -> tuple[Callable[[FastAPI, Settings], None], ...]:
    """What domains serve beside the API router, in the order of DOMAINS."""
    return tuple(domain.on_app for domain in DOMAINS if domain.on_app is not None)


def lifespans() -> tuple[Callable[[Resources], AbstractAsyncContextManager[None]], ...]:
    """What runs while a serving process's resources are open, in the order of DOMAINS."""
    return tuple(domain.lifespan for domain in DOMAINS if domain.lifespan is not None)


def serve_wrappers() -> tuple[Callable[[Settings], AbstractContextManager[None]], ...]:
    """What wraps `app serve` in its parent process, in the order of DOMAINS."""
    return tuple(domain.on_serve for domain in DOMAINS if domain.on_serve is not None)


def worker_wrappers() -> tuple[Callable[[Settings], AbstractContextManager[None]], ...]:
    """What wraps `app worker`'s run, in the order of DOMAINS."""
    return tuple(domain.on_worker for domain in DOMAINS if domain.on_worker is not None)


def extensions() -> tuple[Extension[Any], ...]:
    """Every domain's extensions of other packages (core/extensions.py)."""
    return tuple(extension for domain in DOMAINS for extension in domain.extensions)


def admin_views() -> tuple[type[ModelView], ...]:
    """Every domain's admin panel views, in the order of DOMAINS."""
    return tuple(view for domain in DOMAINS for view in domain.admin_views)


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


def caller_columns() -> tuple[Label[Any], ...]:
    """Every domain's columns read with the caller by the credential checks, in the order of
    DOMAINS."""
    return tuple(column for domain in DOMAINS for column in domain.caller_columns)
