"""Liveness and readiness, outside `/api/v1`: for load balancers, orchestrators and compose."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.errors import ErrorBody
from app.core.state import ResourcesDep

router = APIRouter(tags=["health"])

NO_STORE = {"Cache-Control": "no-store"}


@router.get("/health")
async def health() -> JSONResponse:
    """The process is alive; touches no backing service."""
    instance = f"{socket.gethostname()}:{os.getpid()}"
    return JSONResponse({"status": "ok", "instance": instance}, headers=NO_STORE)


async def _database_ok(engine: AsyncEngine) -> bool:
    # Twice at most: after a database restart, the first try may meet a pooled connection
    # the restart ended (the pool then drops it), which says nothing of the database now.
    for _ in range(2):
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                return False
        except Exception:  # any other failure to reach the database means not ready
            return False
        else:
            return True
    return False


async def _within(check: Any, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            return bool(await check)
    except TimeoutError:
        return False


@router.get(
    "/ready", responses={503: {"description": "A backing service is down", "model": ErrorBody}}
)
async def ready(resources: ResourcesDep) -> JSONResponse:
    """PostgreSQL (or SQLite) and Redis answer; 503 naming what is down."""
    timeout = resources.settings.REDIS_TIMEOUT_SECONDS + 1
    names = ("database", "cache", "queue", "rate_limit")
    results = await asyncio.gather(
        _within(_database_ok(resources.engine), timeout),
        _within(resources.cache.ping(), timeout),
        _within(resources.queue.ping(), timeout),
        _within(resources.rate_limiter.ping(), timeout),
    )
    checks = {name: "ok" if ok else "down" for name, ok in zip(names, results, strict=True)}
    down = [name for name, ok in zip(names, results, strict=True) if not ok]
    if down:
        body = {"detail": "Not ready: " + ", ".join(down) + " unavailable", "checks": checks}
        return JSONResponse(body, status_code=503, headers={**NO_STORE, "Retry-After": "5"})
    return JSONResponse({"status": "ready", "checks": checks}, headers=NO_STORE)
