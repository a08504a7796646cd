"""The list of domains: the one place that names them. The API router (`api.py`), the model
registry (`metadata` below, for Alembic and every process that opens the database), the jobs
(`jobs.py`, for the worker and the embedded runner), the permissions (`GET /permissions`),
the event reactions and the admin panel's views are built from it. Adding an entity is one
new folder with its `domain.py`, and one line here.
"""

from __future__ import annotations

from sqladmin import ModelView

from app.admin.domain import domain as admin
from app.api_keys.domain import domain as api_keys
from app.auth.domain import domain as auth
from app.core import permissions
from app.core.commands import Command
from app.core.config import FeatureSettings
from app.core.db import Base
from app.core.domain import Domain
from app.core.events import Reaction
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


def feature_settings() -> tuple[type[FeatureSettings], ...]:
    """Every domain's own settings class."""
    return tuple(domain.settings for domain in DOMAINS if domain.settings is not None)


def commands() -> tuple[Command, ...]:
    """Every domain's `app` subcommands."""
    return tuple(command for domain in DOMAINS for command in domain.commands)


def event_handlers() -> tuple[Reaction, ...]:
    """Every domain's reactions to events, in the order of DOMAINS."""
    return tuple(handler for domain in DOMAINS for handler in domain.handlers)


def admin_views() -> tuple[type[ModelView], ...]:
    """Every domain's admin panel views, in the order of DOMAINS."""
    return tuple(view for domain in DOMAINS for view in domain.admin_views)
