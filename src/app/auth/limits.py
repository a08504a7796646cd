"""Per-path rate limits: a route asks for them with `dependencies=[RATE_LIMITED]`, and the
installed limit source, a feature's extension (core/extensions.py) of `LIMIT_SOURCE` (tiers:
the caller's tier decides), counts the request against the limit it chooses for the caller.
Without a source such routes are not limited. The login limits (auth/dependencies.py) and the
account mails' (accounts/) are their own and always apply.

    @router.post("/{username}/post", dependencies=[RATE_LIMITED])
"""

from __future__ import annotations

from typing import Protocol

from fastapi import Depends, Request

from app.core.extensions import Key
from app.core.state import get_resources
from app.platform.rate_limit import Verdict, enforce
from app.users.dependencies import Caller, OptionalCaller


class LimitSource(Protocol):
    async def __call__(self, request: Request, caller: Caller | None) -> Verdict | None:
        """Count the request with the limit chosen for `caller` (None: anonymous), from what
        their credential's check read (`Caller.row`: the caller columns); the verdict goes to
        `enforce`, None lets the request through."""
        ...


LIMIT_SOURCE: Key[LimitSource] = Key("per-path rate limits")


async def rate_limited(request: Request, caller: OptionalCaller) -> None:
    """Count the request with the limit source's limit for the caller; 429 once it is spent.
    The caller is the one the route authenticates anyway: no query or dependency of its own."""
    source = get_resources(request).extensions.get(LIMIT_SOURCE)
    if source is not None:
        await enforce(request, await source(request, caller))


RATE_LIMITED = Depends(rate_limited)
