"""The `app` command: serve, worker, migrate, create-superuser, and the features' own
commands (create-tier, create-role, grant, ...: each `Domain(commands=...)`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.commands import Command, CommandFailed
from app.core.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from app.core.state import Resources

MIGRATIONS = Path(__file__).parent / "migrations"


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.platform.logging import configure_logging

    workers = (
        1
        if args.reload
        else (args.workers if args.workers is not None else settings.WEB_CONCURRENCY)
    )
    if workers < 1:
        return _fail("--workers must be at least 1")
    if workers > 1 and settings.is_embedded:
        return _fail(
            "the embedded backends (SQLite, in-process cache and queue) allow one process; "
            "set DATABASE_URL and REDIS_URL to run several workers"
        )
    budget = settings.DATABASE_MAX_CONNECTIONS
    if budget is not None and not settings.is_sqlite and budget < workers:
        return _fail(
            f"DATABASE_MAX_CONNECTIONS={budget} cannot give {workers} workers a connection each"
        )
    _check_schema_before_serving(settings)
    # The server processes read their settings afresh: WEB_CONCURRENCY tells each one how many
    # share the connection budget and the cores.
    os.environ["WEB_CONCURRENCY"] = str(workers)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    server = "uvicorn" if args.reload else (args.server or settings.WEB_SERVER)
    with _serving(settings):
        if server == "granian":
            _serve_granian(settings, args.host, args.port, workers)
        else:
            serve_uvicorn(APP_FACTORY, settings, args.host, args.port, workers, reload=args.reload)
    return 0


@contextlib.contextmanager
def _serving(settings: Settings) -> Iterator[None]:
    """What features set up in this process while its server processes run (the metrics'
    shared directory), in the order of the domains."""
    from app.domains import serve_wrappers

    with contextlib.ExitStack() as stack:
        for wrapper in serve_wrappers():
            stack.enter_context(wrapper(settings))
        yield


APP_FACTORY = "app.factory:create_app"
# How long uvicorn's supervisor waits for a worker process to answer (see serve_uvicorn).
WORKER_HEALTHCHECK_SECONDS = 30


def serve_uvicorn(
    target: str, settings: Settings, host: str, port: int, workers: int, *, reload: bool = False
) -> None:
    """uvicorn with this project's options (also the bench's yardsticks' server: they must be
    served exactly as the API is). `target` is the app factory or, for the bench, an app."""
    import functools

    import uvicorn

    from app.platform.http.uvicorn_protocol import BoundedHttpToolsProtocol, HeadLimits

    limits = HeadLimits(
        timeout=settings.REQUEST_HEADERS_TIMEOUT_SECONDS,
        max_headers=settings.MAX_REQUEST_HEADERS,
        max_bytes=settings.MAX_REQUEST_HEADER_BYTES,
    )
    uvicorn.run(
        target,
        factory=target == APP_FACTORY,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        # httptools (uvicorn's own choice when installed) with a deadline and size bounds on
        # each request's head, which uvicorn lacks. uvicorn calls it as it calls a class.
        http=functools.partial(BoundedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        # The supervisor kills a worker that does not answer its ping for this long. Starting
        # one (a new Python importing the app) took over uvicorn's default 5 s on a busy
        # machine, and the workers were killed while starting.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        # Forwarded headers are handled in the app, from TRUSTED_PROXIES only.
        proxy_headers=False,
        server_header=False,
        # On SIGTERM: stop accepting, let in-flight requests finish for this long.
        timeout_graceful_shutdown=settings.GRACEFUL_TIMEOUT_SECONDS,
        timeout_keep_alive=settings.KEEP_ALIVE_SECONDS,
        # The app configures logging itself (request ids, JSON) and writes the access log.
        log_config=None,
        access_log=False,
        log_level=settings.LOG_LEVEL.lower(),
    )


def _serve_granian(settings: Settings, host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    Server(
        APP_FACTORY,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http1_settings=HTTP1Settings(
            # Granian answers 431 past this many bytes of request line and headers, and 100
            # headers (fixed); the deadline also bounds an idle keep-alive connection.
            header_read_timeout=round(settings.REQUEST_HEADERS_TIMEOUT_SECONDS * 1000),
            max_buffer_size=settings.MAX_REQUEST_HEADER_BYTES,
        ),
        # A worker that dies is started again, as uvicorn's supervisor does.
        respawn_failed_workers=True,
        # On SIGTERM: stop accepting, let in-flight requests finish for this long.
        workers_kill_timeout=settings.GRACEFUL_TIMEOUT_SECONDS or None,
        # The app configures logging itself (request ids, JSON) and writes the access log.
        log_enabled=False,
        log_access=False,
    ).serve()


def worker(settings: Settings, args: argparse.Namespace) -> int:
    from app.worker import queue_url, run_worker

    try:
        queue_url(settings)
        _check_schema_before_serving(settings)
        return run_worker(settings)
    except ConfigError as exc:
        return _fail(str(exc))


def alembic_config() -> Config:
    """Alembic's configuration: the environment in migrations/, and the folder of each
    installed domain's branch (env.py sets the same folders for the `alembic` command)."""
    from app.domains import migration_locations

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join(str(path) for path in migration_locations())
    )
    return config


async def _current_heads(engine: AsyncEngine) -> set[str]:
    """The revisions the database records: one per branch, less those that another branch's
    revision depends on (Alembic records the dependent only)."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        return await connection.run_sync(read)


@contextlib.asynccontextmanager
async def _engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine for one check of a command, disposed of on the way out."""
    from app.core.db import create_engine

    engine = create_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


# SQLSTATEs of a server that is starting or stopping: worth another try (57P01 admin
# shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
_STARTING_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def _sqlstate(exc: BaseException) -> str | None:
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None


def _not_up_yet(exc: BaseException) -> bool:
    """A connection error that a database still starting gives (refused, no route, the
    server's own "starting up"), as opposed to a wrong password or database name."""
    return isinstance(exc, OSError | TimeoutError) or _sqlstate(exc) in _STARTING_SQLSTATES


def _connection_failure(settings: Settings, exc: Exception) -> str:
    if _not_up_yet(exc):
        return _unreachable(settings, exc)
    where = settings.database_url.render_as_string(hide_password=True)
    return f"cannot connect to the database at {where}: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    """The driver's own message (without SQLAlchemy's wrapping and links), on one line."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def wait_for_database(settings: Settings, seconds: float) -> None:
    """Connect once, retrying for up to `seconds` while the server is not up yet.

    Raises CommandFailed when the database cannot be reached in time, or refuses the
    connection for a reason that waiting does not cure (credentials, database name).
    """
    from sqlalchemy import text

    async def attempt() -> None:
        async with _engine(settings) as engine, engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    deadline = time.monotonic() + seconds
    delay = 0.5
    while True:
        try:
            asyncio.run(attempt())
            return
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            left = deadline - time.monotonic()
            if not _not_up_yet(exc) or left <= 0:
                raise CommandFailed(_connection_failure(settings, exc), code=1) from None
            print(
                f"waiting for the database ({type(exc).__name__}); {left:.0f} s left",
                file=sys.stderr,
            )
            time.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)


# Each domain's tables are a branch of their own, so there are several heads: `heads` is
# every branch (and `head`, which names none of them, is read as `heads`).
ALL_HEADS = "heads"
_STEPS_BACK = re.compile(r"-(\d+)")


def _downgrades(revision: str) -> bool:
    return revision == "base" or revision.endswith("@base") or "@-" in revision


def _step_back(settings: Settings, config: Config) -> None:
    """Undo the newest revision the database has, whichever branch it is in.

    Alembic's own `-1` is ambiguous with several heads; here the newest is the one whose file
    name sorts last among the database's heads (names begin with their creation time, see
    alembic.ini's file_template). A head is never a revision another applied one needs.
    """
    from alembic.script import ScriptDirectory

    async def read() -> set[str]:
        async with _engine(settings) as engine:
            return await _current_heads(engine)

    current = asyncio.run(read())
    if not current:
        raise CommandError("the database has no migration to step back")
    scripts = ScriptDirectory.from_config(config)
    newest = max(scripts.get_revisions(tuple(current)), key=lambda script: Path(script.path).name)
    command.downgrade(config, f"{newest.revision}@-1")
    print(f"stepped back {newest.revision} ({newest.doc})")


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    if args.wait < 0:
        return _fail("--wait takes a number of seconds, 0 or more")
    wait_for_database(settings, args.wait)
    config = alembic_config()
    target = ALL_HEADS if args.revision == "head" else args.revision
    try:
        steps = _STEPS_BACK.fullmatch(target)
        if steps is not None:
            for _ in range(int(steps[1])):
                _step_back(settings, config)
        elif _downgrades(target):
            command.downgrade(config, target)
        else:
            command.upgrade(config, target)
    except CommandError as exc:
        return _fail(f"cannot migrate to {target}: {exc}")
    except (OSError, TimeoutError) as exc:
        return _fail(_unreachable(settings, exc), code=1)
    except SQLAlchemyError as exc:
        return _fail(f"migration to {target} failed: {_first_line(exc)}", code=1)
    print(f"database migrated to {target}")
    return 0


async def schema_problem(engine: AsyncEngine) -> str | None:
    """Why the database cannot serve this code (None when every installed domain's branch
    is at its newest migration)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    # What `app migrate` records: one head per branch, less those another branch depends on.
    heads = {script.revision for script in scripts.get_revisions(ALL_HEADS)}
    known = {script.revision for script in scripts.walk_revisions()}

    current = await _current_heads(engine)
    if not current:
        return "the database has no schema yet: run `app migrate` first"
    unknown = current - known
    if unknown:
        return (
            f"the database is at migration {', '.join(sorted(unknown))}, which this code does "
            "not have: step it back with the code that has it (`app migrate -1`, or "
            "`app migrate <feature>@base` for a feature being removed)"
        )
    if current != heads:
        return (
            f"the database is at migration {', '.join(sorted(current))} but this code needs "
            f"{', '.join(sorted(heads))}: run `app migrate`"
        )
    return None


def _unreachable(settings: Settings, exc: Exception) -> str:
    where = settings.database_url.render_as_string(hide_password=True)
    return f"cannot reach the database at {where} ({type(exc).__name__})"


@contextlib.asynccontextmanager
async def _migrated_database(settings: Settings) -> AsyncIterator[Resources]:
    """The process's resources, once the database is known to be reachable and migrated."""
    from app.resources import open_resources

    async with open_resources(settings) as resources:
        try:
            problem = await schema_problem(resources.engine)
        except (OSError, SQLAlchemyError) as exc:
            raise CommandFailed(_connection_failure(settings, exc), code=1) from None
        if problem is not None:
            raise CommandFailed(problem)
        yield resources


def _check_schema_before_serving(settings: Settings) -> None:
    """Refuse to start on a database that is not migrated; a database that cannot be reached
    yet is only a warning (the server starts, and /ready says what is down)."""

    async def check() -> str | None:
        async with _engine(settings) as engine:
            return await schema_problem(engine)

    try:
        problem = asyncio.run(check())
    except (OSError, SQLAlchemyError) as exc:
        print(f"warning: {_connection_failure(settings, exc)}; starting anyway", file=sys.stderr)
        return
    if problem is not None:
        raise CommandFailed(problem)


async def _create_superuser(settings: Settings, args: argparse.Namespace) -> int:
    from app.api import api_path_words, build_api_router
    from app.core.db import unit_of_work
    from app.users import service
    from app.users.repository import UserRepository
    from app.users.schemas import UserCreate
    from app.users.service import ReservedUsernames

    password = args.password if args.password is not None else settings.ADMIN_PASSWORD
    try:
        data = UserCreate(
            name=args.name or settings.ADMIN_NAME,
            username=args.username or settings.ADMIN_USERNAME,
            email=args.email or settings.ADMIN_EMAIL,
            password=password.get_secret_value() if isinstance(password, SecretStr) else password,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise CommandFailed(f"invalid superuser: {problems}") from None
    # The operator may choose a reserved name (the default is `admin`), never a word of the
    # API's paths: that user's pages would be unreachable.
    reserved = ReservedUsernames(api_path_words(build_api_router().routes), names=frozenset())
    reason = reserved.reason(data.username)
    if reason is not None:
        raise CommandFailed(f"invalid superuser: username: {reason}")

    async with (
        _migrated_database(settings) as resources,
        unit_of_work(resources) as db,
    ):
        repo = UserRepository(db)
        if await repo.username_taken(data.username) or await repo.email_taken(data.email):
            print(f"user '{data.username}' or email '{data.email}' exists: nothing to do")
            return 0
        await service.register(db, resources.hasher, data, is_superuser=True, email_verified=True)
    print(f"superuser '{data.username}' created")
    return 0


def create_superuser(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_create_superuser(settings, args))


def _domain_command(feature: Command) -> Callable[[Settings, argparse.Namespace], int]:
    """Runs a feature's command on the process's resources, once the database is known to be
    reachable and migrated."""

    def handler(settings: Settings, args: argparse.Namespace) -> int:
        async def run() -> int:
            async with _migrated_database(settings) as resources:
                return await feature.run(resources, args)

        return asyncio.run(run())

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app", description="Run and manage the API.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="serve the API (Granian or uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, help="server processes (default: WEB_CONCURRENCY, or 1)")
    p.add_argument(
        "--server",
        choices=("granian", "uvicorn"),
        help="the HTTP server (default: WEB_SERVER); --reload always uses uvicorn",
    )
    p.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    p.set_defaults(handler=serve)

    p = commands.add_parser("worker", help="run the job worker (ARQ; needs Redis)")
    p.set_defaults(handler=worker)

    p = commands.add_parser("migrate", help="apply database migrations")
    p.add_argument(
        "revision",
        nargs="?",
        default=ALL_HEADS,
        help="target (default: heads, every domain's branch; -1 steps back the newest "
        "revision, base undoes all, <domain>@base one domain's)",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="retry the first connection this long while the database is starting (default 0)",
    )
    p.set_defaults(handler=migrate)

    p = commands.add_parser(
        "create-superuser", help="create the first superuser from ADMIN_* (harmless to rerun)"
    )
    p.add_argument("--name")
    p.add_argument("--username")
    p.add_argument("--email")
    p.add_argument("--password", help="default: ADMIN_PASSWORD (prefer the environment)")
    p.set_defaults(handler=create_superuser)

    from app.domains import commands as feature_commands

    for feature in feature_commands():
        p = commands.add_parser(feature.name, help=feature.help)
        feature.arguments(p)
        p.set_defaults(handler=_domain_command(feature))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from app.domains import feature_settings

        settings = load_settings()
        settings.load_features(feature_settings())
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        code: int = args.handler(settings, args)
    except CommandFailed as exc:
        return _fail(str(exc), exc.code)
    except Exception as exc:
        from app.core.db_errors import database_unavailable, describe

        if not database_unavailable(exc):
            raise
        # Lost in the middle of a command (the start is checked: _migrated_database). Every
        # command that writes is harmless to run again.
        return _fail(f"the database became unavailable: {describe(exc)}", code=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
