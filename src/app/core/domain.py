"""What a domain contributes to the app. Each domain package declares one `Domain` in its
`domain.py`; `app.domains.DOMAINS` lists them, and the API router, the model registry, the
worker, the embedded job runner, the event reactions and the admin panel's views are all
built from that list.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from sqladmin import ModelView

from app.core.commands import Command
from app.core.config import FeatureSettings
from app.core.db import Base
from app.core.events import Reaction
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
            permissions=(Permission("notes.delete_any", "Delete any user's note"),),
            handlers=(
                Handler(PasswordChanged, revoke_note_links),
                *forget_pages("{username}_notes:*", on=(UserDeleted, UserRenamed)),
            ),
            admin_views=(NoteAdmin,),
            settings=NoteSettings,
            commands=(Command("create-note", "create a note", create_note),),
        )

    `permissions` are the ones its routes check (`require_permissions`), listed by
    `GET /permissions`. `handlers` react to other domains' events (core/events.py): inside
    the publisher's transaction (`Handler`) or after its commit (`OnCommit`, and the
    `forget_pages` that forget this domain's cached pages). `admin_views` are its admin
    panel views (core/admin.py), shown when the panel is installed. `settings` is the
    feature's own settings class (core/config.py `FeatureSettings`), read at start-up;
    `commands` are its `app` subcommands (core/commands.py).
    """

    name: str
    router: APIRouter | None = None
    models: tuple[type[Base], ...] = ()
    jobs: tuple[JobFunction, ...] = ()
    cron_jobs: tuple[CronJob, ...] = ()
    permissions: tuple[Permission, ...] = ()
    handlers: tuple[Reaction, ...] = ()
    admin_views: tuple[type[ModelView], ...] = ()
    settings: type[FeatureSettings] | None = None
    commands: tuple[Command, ...] = ()
