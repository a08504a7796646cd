"""Database: declarative base, shared mixins, the engine factory, and `Db`, the unit of work
through which services reach the database (requests, jobs, the CLI, the admin panel alike),
with its after-commit hooks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

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
from app.core.query import Query
from app.core.state import get_resources

if TYPE_CHECKING:
    from app.core.state import Resources

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


class Db:
    """The database as one request, job or command sees it: one unit of work. Services take
    it and hand it to the repositories they use (`PostRepository(db)`); a repository decides
    how each of its statements runs:

    - `rows(query, ...)` / `row(query, ...)`, a prepared read (`app.core.query.Query`): while
      the unit of work has no transaction open, on the engine, outside any transaction, in
      one round trip; once it has one, through that transaction, so that the read sees what
      the unit of work wrote and the rows it holds.
    - `session`, the unit of work's ORM session, for writes and for reads that load rows to
      change or to hold (`FOR UPDATE`). Its transaction begins with its first statement.

    The unit of work commits its transaction when it ends (`unit_of_work`, or the request
    dependency `DbDep`), rolls it back if it raises, and then runs the hooks registered with
    `after_commit`. One that only read through `rows` never began a transaction: no BEGIN, no
    COMMIT.
    """

    __slots__ = ("_ends_with", "_hooks", "_session", "_sessionmaker", "engine")

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        ends_with: AsyncExitStack | None = None,
    ) -> None:
        """`ends_with`: the exit stack whose closing ends the unit of work (a request's), from
        the moment it has something to end; without one, its owner ends it (`unit_of_work`)."""
        self.engine = engine
        self._sessionmaker = sessionmaker
        self._ends_with = ends_with
        self._session: AsyncSession | None = None
        self._hooks: list[AfterCommit] = []

    @property
    def session(self) -> AsyncSession:
        """The unit of work's session, made on first use; its transaction begins with its first
        statement and ends with the unit of work."""
        session = self._session
        if session is None:
            self._something_to_end()
            session = self._session = self._sessionmaker()
        return session

    async def rows(self, query: Query, **params: Any) -> Sequence[Mapping[str, Any]]:
        """The rows of a prepared read, as mappings of column labels: in one round trip on the
        engine while no transaction is open, else in the transaction (after sending the
        session's pending changes, so that the read sees them)."""
        session = self._session
        if session is None or not session.in_transaction():
            return await query.all(self.engine, **params)
        await session.flush()
        result = await session.execute(query.statement, params)
        return [dict(row) for row in result.mappings()]

    async def row(self, query: Query, **params: Any) -> Mapping[str, Any] | None:
        """The first row of a prepared read, or None (see `rows`)."""
        found = await self.rows(query, **params)
        return found[0] if found else None

    def after_commit(self, hook: AfterCommit) -> None:
        """Run `hook` once the unit of work has committed (right away at its end when it
        wrote nothing); never if it rolls back.

            db.after_commit(functools.partial(invalidate_now, cache, ["alice_posts:1"]))
        """
        if self._session is None and not self._hooks:
            self._something_to_end()
        self._hooks.append(hook)

    def _something_to_end(self) -> None:
        stack, self._ends_with = self._ends_with, None
        if stack is not None:
            stack.push_async_exit(self._exit)

    async def _exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        # Shielded, as FastAPI shields the end of a dependency with `yield`: a request cancelled
        # meanwhile still commits or rolls back, and gives its connection back.
        await asyncio.shield(self._end() if exc_type is None else self._abandon())
        return False

    async def commit_now(self) -> None:
        """Commit what the unit of work has done so far and run the after-commit hooks it
        has registered, inside a unit of work that goes on to raise (which would roll back
        and drop both): for a write that must stay although the request fails.

            await db.commit_now()
            raise Unauthorized()
        """
        if self._session is not None:
            await self._session.commit()
        await self._run_hooks()

    async def _end(self) -> None:
        """End the unit of work: commit its transaction, if it began one, then run the
        hooks."""
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.commit()
            except BaseException:
                self._hooks.clear()
                raise
            finally:
                await session.close()
        if self._hooks:
            await self._run_hooks()

    async def _abandon(self) -> None:
        """End the unit of work without its changes: roll back, drop the hooks."""
        self._hooks.clear()
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.rollback()
            finally:
                await session.close()

    async def _run_hooks(self) -> None:
        """Run every hook; the first one that fails with an AppError (say, a 503 from a queue
        that cannot be reached) is raised once all have run. Other failures are logged."""
        hooks = list(self._hooks)
        self._hooks.clear()
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
async def unit_of_work(resources: Resources) -> AsyncIterator[Db]:
    """One unit of work outside a request (jobs, commands, the admin panel): committed when
    the block ends, rolled back if it raises; the after-commit hooks run after the commit.

        async with unit_of_work(resources) as db:
            await service.ensure_tier(db, "free")
    """
    db = Db(resources.engine, resources.sessionmaker)
    try:
        yield db
    except BaseException:
        await db._abandon()
        raise
    await db._end()


# FastAPI closes this exit stack of a request once the handler has returned (or raised),
# before the response is sent: what a function-scoped dependency with `yield` does. So a
# client that sees a 2xx can rely on its write being durable and visible to its next request.
_HANDLER_EXITS = "fastapi_function_astack"


async def get_db(request: Request) -> Db:
    """The request's unit of work: committed when the handler returns, rolled back if it
    raises; the after-commit hooks run before the response is sent.

    Not a dependency with `yield`: FastAPI's handling of one (its cancel scopes) costs every
    request about 0.05-0.1 ms, a few percent of a read's whole CPU time. The unit of work joins
    the handler's exit stack itself, once it has a transaction or a hook to end: a request that
    only reads pays nothing for it."""
    resources = get_resources(request)
    exits = request.scope.get(_HANDLER_EXITS)
    if not isinstance(exits, AsyncExitStack):
        raise RuntimeError(f"no {_HANDLER_EXITS} in the request scope: is this a FastAPI route?")
    return Db(resources.engine, resources.sessionmaker, exits)


DbDep = Annotated[Db, Depends(get_db)]


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
