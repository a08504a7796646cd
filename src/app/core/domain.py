"""What a domain contributes to the app. Each domain package declares one `Domain` in its
`domain.py`; `app.domains.DOMAINS` lists them, and the API router, the model registry, the
worker, the embedded job runner and the user-page invalidations are all built from that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from app.core.cache.decorator import check_pattern, placeholders
from app.core.commands import Command
from app.core.config import FeatureSettings
from app.core.db import Base
from app.core.events import Handler
from app.core.identity import Authenticator, PermissionSource
from app.core.permissions import Permission
from app.core.queue.jobs import CronJob, JobFunction


@dataclass(frozen=True, slots=True)
class Domain:
    """One domain's contributions.

        domain = Domain(
            name="notes",
            router=router,
            models=(Note,),
            jobs=(purge_old_notes,),
            cron_jobs=(CronJob(purge_old_notes, name="purge_old_notes_daily", hour=4, minute=0),),
            user_cache_patterns=("{username}_notes:*",),
            permissions=(Permission("notes.delete_any", "Delete any user's note"),),
            handlers=(Handler(PasswordChanged, revoke_note_links),),
            settings=NoteSettings,
            commands=(Command("create-note", "create a note", create_note),),
            authenticators=(NOTE_TOKENS,),
            permission_source=PermissionSource(load_grants, GRANTS_VERSION),
        )

    `user_cache_patterns` are the cache patterns (filled with `{username}`) of the pages that
    belong to one user: deleting or renaming that user invalidates them. `permissions` are
    the ones its routes check (`require_permissions`), listed by `GET /permissions`.
    `handlers` react to other domains' events, inside the publisher's transaction
    (core/events.py). `settings` is the feature's own settings class (core/config.py
    `FeatureSettings`), read at start-up; `commands` are its `app` subcommands
    (core/commands.py). `authenticators` are the kinds of credentials it issues, and
    `permission_source` says what users hold (at most one domain has one): both plug into
    the request's caller (core/identity.py).
    """

    name: str
    router: APIRouter | None = None
    models: tuple[type[Base], ...] = ()
    jobs: tuple[JobFunction, ...] = ()
    cron_jobs: tuple[CronJob, ...] = ()
    user_cache_patterns: tuple[str, ...] = ()
    permissions: tuple[Permission, ...] = ()
    handlers: tuple[Handler[Any], ...] = ()
    settings: type[FeatureSettings] | None = None
    commands: tuple[Command, ...] = ()
    authenticators: tuple[Authenticator, ...] = ()
    permission_source: PermissionSource | None = None

    def __post_init__(self) -> None:
        for pattern in self.user_cache_patterns:
            check_pattern(pattern)
            if placeholders(pattern) != {"username"}:
                raise ValueError(
                    f"{self.name}: user cache pattern {pattern!r} must use {{username}} only"
                )
