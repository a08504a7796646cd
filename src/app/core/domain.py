"""What a domain contributes to the app. Each domain package declares one `Domain` in its
`domain.py`; `app.domains.DOMAINS` lists them, and the API router, the model registry, the
worker, the embedded job runner, the event reactions and the admin panel's views are all
built from that list.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from sqladmin import ModelView
from sqlalchemy.sql.elements import Label

from app.core.commands import Command
from app.core.config import FeatureSettings, Settings
from app.core.db import Base
from app.core.events import Reaction
from app.core.extensions import Extension
from app.core.identity import Authenticator, PermissionSource
from app.core.observe import Collector
from app.core.permissions import Permission

if TYPE_CHECKING:
    from app.core.state import Resources
    from app.platform.queue.jobs import CronJob, JobFunction


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
            migrations=Path(__file__).with_name("migrations"),
            collectors=(note_counters,),
            on_app=install_note_feed,
            lifespan=watch_note_queue,
            on_serve=note_spool,
            on_worker=serve_note_stats,
            extensions=(Extension(NOTE_INDEX, open_note_index),),
            authenticators=(NOTE_TOKENS,),
            permission_source=PermissionSource(load_grants, GRANTS_VERSION),
            caller_columns=(NOTE_QUOTA,),
        )

    `permissions` are the ones its routes check (`require_permissions`), listed by
    `GET /permissions`. `handlers` react to other domains' events (core/events.py): inside
    the publisher's transaction (`Handler`) or after its commit (`OnCommit`, and the
    `forget_pages` that forget this domain's cached pages). `admin_views` are its admin
    panel views (core/admin.py), shown when the panel is installed. `settings` is the
    feature's own settings class (core/config.py `FeatureSettings`), read at start-up;
    `commands` are its `app` subcommands (core/commands.py). `authenticators` are the kinds
    of credentials it issues, and `permission_source` says what users hold (at most one
    domain has one): both plug into the request's caller (core/identity.py), and so do
    `caller_columns`, what the feature reads with the caller in the credential check's one
    statement (labelled scalar expressions correlated on `users.id`; `Caller.row`). `migrations`
    is the folder of its Alembic revisions: the branch that creates its tables, labelled
    with its name, `depends_on` the branches whose tables it refers to (`users`, ...).
    Alembic reads the folders of the installed domains only, so a fresh database gets no
    table of a removed one.

    The rest reach the processes that serve, and do nothing when the feature's settings turn
    it off:
    `collectors` make what observes the platform (core/observe.py `Collector`: hooks and the
    request observer), installed when an app or a worker starts (None: not now);
    `on_app` installs what the feature serves beside the API router (a path at the root);
    `lifespan` runs while a serving process's resources are open (the app's and the worker's);
    `on_serve` wraps `app serve` in its parent process, before the server processes start;
    `on_worker` wraps `app worker`'s run, before the worker is made;
    `extensions` fill other packages' extension points, built with each process's resources
    (core/extensions.py).
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
    migrations: Path | None = None
    collectors: tuple[Callable[[Settings], Collector | None], ...] = ()
    on_app: Callable[[FastAPI, Settings], None] | None = None
    lifespan: Callable[[Resources], AbstractAsyncContextManager[None]] | None = None
    on_serve: Callable[[Settings], AbstractContextManager[None]] | None = None
    on_worker: Callable[[Settings], AbstractContextManager[None]] | None = None
    extensions: tuple[Extension[Any], ...] = ()
    authenticators: tuple[Authenticator, ...] = ()
    permission_source: PermissionSource | None = None
    caller_columns: tuple[Label[Any], ...] = ()
