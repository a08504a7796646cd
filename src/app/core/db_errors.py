"""Database errors by what they mean: the database cannot serve now (a 503 with Retry-After, a
job tried again later), or a connection that can no longer be used (taken out of the pool).
Anything else is the app's own error (a 500).

The errors come wrapped by SQLAlchemy (`DBAPIError`, whose `orig` holds the driver's error, and
for asyncpg that error's `__cause__` the driver's own), or raw from asyncpg on the prepared
read path (core/query.py), or as OSError from a connection attempt. asyncpg is not imported
here: the embedded SQLite setup never loads it.

    if database_unavailable(exc):
        ...  # 503, try again shortly
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE classes of a server that cannot serve now: 08 connection exception, 53 insufficient
# resources (too many connections, out of memory, disk full), 57P operator intervention (57P01
# admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now: starting up or shutting down).
UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
# Those after which the server has ended the session (the connection is gone).
_SESSION_ENDED_SQLSTATES = ("08", "57P01", "57P02")
# asyncpg's InterfaceError also reports misuse (a wrong argument count; its DataError, a value
# the column cannot take): only these say the connection itself cannot be used.
_CONNECTION_STATES = ("connection is closed", "another operation")


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error behind SQLAlchemy's wrapping (asyncpg's, behind the dialect's
    adapter), or `exc` itself."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith("asyncpg."):
        return cause
    return exc


def _sqlstate(exc: BaseException) -> str:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else ""


def _asyncpg_connection_state(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("asyncpg.") and any(
        state in str(exc) for state in _CONNECTION_STATES
    )


def _driver_unavailable(exc: BaseException) -> bool:
    return (
        # refused, reset, unreachable, timed out (TimeoutError is an OSError)
        isinstance(exc, OSError)
        or _sqlstate(exc).startswith(UNAVAILABLE_SQLSTATES)
        or _asyncpg_connection_state(exc)
    )


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says that the database cannot be reached or cannot serve now, so that
    the same request may succeed shortly; False for an error of the app itself (a bug, such as
    a ProgrammingError or a value the driver refused)."""
    if isinstance(exc, PoolTimeoutError | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        driver = _driver_error(exc)
        if _driver_unavailable(driver):
            return True
        if isinstance(exc, OperationalError):
            return True
        if isinstance(exc, InterfaceError):
            # asyncpg's connection states were matched above: the rest is misuse.
            return not type(driver).__module__.startswith("asyncpg.")
        return False
    return _driver_unavailable(exc)


def session_ended(exc: BaseException) -> bool:
    """True when the server has ended the connection's session (it restarted or is shutting
    down, or the backend was terminated): the other connections of the pool most likely went
    the same way."""
    return _sqlstate(_driver_error(exc)).startswith(_SESSION_ENDED_SQLSTATES)


def connection_busy(exc: BaseException) -> bool:
    """True when the driver refuses the connection because an earlier operation on it never
    finished ("another operation is in progress"): this one connection is unusable."""
    driver = _driver_error(exc)
    return type(driver).__module__.startswith("asyncpg.") and "another operation" in str(driver)


def describe(exc: BaseException) -> str:
    """One line for the log: the error's class and the driver's message (never the SQL or its
    parameters, which SQLAlchemy's own message carries)."""
    driver = _driver_error(exc)
    text = str(driver).strip().splitlines()
    message = text[0][:200] if text else ""
    name = type(exc).__name__
    if driver is not exc:
        name = f"{name} ({type(driver).__name__})"
    return f"{name}: {message}" if message else name
