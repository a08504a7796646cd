"""Per-path rate limits: a route asks for them with `dependencies=[RATE_LIMITED]`, and the
installed limit source (a feature's `Domain(rate_limit_source=...)`: tiers/) counts the
request against the limit it chooses for the caller. Without a source such routes are not
limited. The login and mail limits (auth/dependencies.py) are auth's own and always apply.

    @router.post("/{username}/post", dependencies=[RATE_LIMITED])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Depends, Request

from app.auth.dependencies import OptionalCaller
from app.core.rate_limit import enforce
from app.core.state import get_resources

_ANONYMOUS: Mapping[str, Any] = {}


async def rate_limited(request: Request, caller: OptionalCaller) -> None:
    """Count the request with the limit source's limit for the caller; 429 once it is spent.
    The caller is the one the route authenticates anyway: no query or dependency of its own."""
    source = get_resources(request).rate_limit_source
    if source is None:
        return
    if caller is None:
        verdict = await source(request, None, _ANONYMOUS)
    else:
        verdict = await source(request, caller.user.id, caller.row)
    await enforce(request, verdict)


RATE_LIMITED = Depends(rate_limited)
