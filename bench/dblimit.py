"""The database limit: S1's one query with nothing around it, under the ceiling's server.

`GET /user/{username}` runs the query S1's answer needs (the public fields of an active user
by username) through a pool of asyncpg connections, as one prepared statement outside any
transaction, and returns the row as JSON; 404 when there is no such user. It is served by
uvicorn with the ceiling's settings (`bench/ceiling.py`), so what the API does on S1 is
measured against what the database and the server allow together.

    DATABASE_URL=postgresql+asyncpg://... python -m bench.dblimit --port 8002 --workers 2
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.ceiling import health, serve_main

QUERY = (
    "SELECT id, name, username, profile_image_url, created_at FROM users "
    "WHERE username = $1 AND is_deleted = false"
)
POOL_SIZE = 20  # the app's pool per worker (DATABASE_POOL_SIZE's default)


def _dsn() -> str:
    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(_dsn(), min_size=POOL_SIZE, max_size=POOL_SIZE)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


async def user(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    row = await pool.fetchrow(QUERY, request.path_params["username"])
    if row is None:
        return JSONResponse({"detail": "User not found"}, status_code=404)
    data: dict[str, Any] = dict(row)
    data["created_at"] = data["created_at"].isoformat()
    return JSONResponse(data)


app = Starlette(
    routes=[Route("/user/{username}", user), Route("/health", health)], lifespan=lifespan
)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main("bench.dblimit:app", "python -m bench.dblimit", __doc__, 8002, argv)


if __name__ == "__main__":
    raise SystemExit(main())
