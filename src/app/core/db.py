"""Database: declarative base, shared mixins, the engine factory and `transaction()`, the one
place sessions are opened (requests, jobs, the CLI) and after-commit hooks run."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Boolean, DateTime, Integer, MetaData, event, text
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings
from app.core.db_errors import connection_busy, session_ended
from app.core.errors import AppError, Conflict
from app.core.state import get_resources

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-100)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, sort_order=100
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), onupdate=utcnow, sort_order=100
    )


class SoftDeleteMixin:
    is_deleted: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=text("false"),
        nullable=False,
        index=True,
        sort_order=100,
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), sort_order=100)

    def soft_delete(self) -> None:
        self.is_deleted = True
        self.deleted_at = utcnow()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _disconnect_on_server_word(context: ExceptionContext) -> None:
    """asyncpg's dialect calls an error a disconnect once the driver has seen the socket
    close; the server's own word that it ended the session (57P01 on a restart) can come
    first, and a connection stuck in an unfinished operation never closes. Both are taken out
    of the pool now (the stuck one alone), rather than failing the next request too."""
    if context.is_disconnect:
        return
    error = context.original_exception
    if session_ended(error):
        context.is_disconnect = True
    elif connection_busy(error):
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=settings.DATABASE_ECHO)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    pool_size, max_overflow = settings.pool_limits()
    engine = create_async_engine(
        url,
        echo=settings.DATABASE_ECHO,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT,
        pool_pre_ping=settings.DATABASE_POOL_PRE_PING,
    )
    event.listen(engine.sync_engine, "handle_error", _disconnect_on_server_word)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


AfterCommit = Callable[[], Awaitable[None]]
_HOOKS = "after_commit_hooks"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once the session's transaction (opened by `transaction`) has committed;
    never if it rolls back.

        after_commit(session, functools.partial(invalidate_now, cache, ["alice_posts:1"]))
    """
    hooks: list[AfterCommit] | None = session.info.get(_HOOKS)
    if hooks is None:
        raise RuntimeError("after_commit needs a session opened by transaction()")
    hooks.append(hook)


async def _run_hooks(hooks: list[AfterCommit]) -> None:
    """Run every hook; the first one that fails with an AppError (say, a 503 from a queue that
    cannot be reached) is raised once all have run. Other failures are logged."""
    failure: AppError | None = None
    for hook in hooks:
        try:
            await hook()
        except AppError as exc:
            failure = failure or exc
        except Exception:
            logger.exception("after-commit hook %r failed", hook)
    if failure is not None:
        raise failure


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block ends, roll back if it raises, then run the
    hooks registered with `after_commit` (only after a commit). The request dependency, jobs
    and the CLI all open their sessions here.

        async with transaction(resources.sessionmaker) as session:
            session.add(Tier(name="free"))
    """
    async with sessionmaker() as session:
        hooks: list[AfterCommit] = []
        session.info[_HOOKS] = hooks
        try:
            yield session
        except BaseException:
            hooks.clear()
            await session.rollback()
            raise
        await session.commit()
        session.info.pop(_HOOKS, None)
        await _run_hooks(hooks)


async def commit_now(session: AsyncSession) -> None:
    """Commit what the transaction has done so far and run the after-commit hooks it has
    registered, inside a `transaction()` block that goes on to raise (which would roll back
    and drop both): for a write that must stay although the request fails.

        await commit_now(session)
        raise Unauthorized()
    """
    await session.commit()
    hooks: list[AfterCommit] | None = session.info.get(_HOOKS)
    if hooks:
        pending = list(hooks)
        hooks.clear()
        await _run_hooks(pending)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises; the after-commit hooks run before the response is sent."""
    async with transaction(get_resources(request).sessionmaker) as session:
        yield session


async def get_engine(request: Request) -> AsyncEngine:
    """The engine, for reads that run outside a transaction (`app.core.query.Query`)."""
    return get_resources(request).engine


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


# scope="function" ends the dependency (and so commits) before the response is sent: a client
# that sees a 2xx can rely on its write being durable and visible to its next request.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


@contextmanager
def integrity_error_as(error: str | Callable[[IntegrityError], AppError]) -> Iterator[None]:
    """Turn a constraint violation raised in the block into an API error: a 409 with `error`
    as its detail, or what `error(exc)` returns. The constraints decide races between
    concurrent requests, so the loser gets this answer rather than a 500.

        with integrity_error_as("Tier name is already taken"):
            await repo.add(tier)
    """
    try:
        yield
    except IntegrityError as exc:
        raise (Conflict(error) if isinstance(error, str) else error(exc)) from None
