"""The list of domains: the one place that names them. The API router (`api.py`), the model
registry (`metadata` below, for Alembic and every process that opens the database), the jobs
(`jobs.py`, for the worker and the embedded runner), the permissions (`GET /permissions`),
the user-page invalidations and the event handlers are built from it. Adding an entity is one
new folder with its `domain.py`, and one line here.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from app.core import permissions
from app.core.commands import Command
from app.core.config import FeatureSettings
from app.core.db import Base
from app.core.domain import Domain
from app.core.events import Handler

# One line per domain: the module that declares its `domain`. Deleting an optional feature's
# line, with its `src/app/<pkg>/` and `tests/<pkg>/`, removes it (README, "Removing a feature").
# Routes are matched, and event handlers run, in this order.
DOMAIN_MODULES = (
    "app.core.mail.domain",
    "app.auth.domain",
    "app.users.domain",
    "app.roles.domain",
    "app.api_keys.domain",
    "app.tiers.domain",
    "app.tasks.domain",
    "app.posts.domain",
    "app.docs",
    "app.admin.domain",
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
