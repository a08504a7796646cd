from __future__ import annotations

from app.auth.dependencies import Caller
from app.users.permissions import READ_PRIVATE
from app.users.service import Viewer


async def viewer_of(caller: Caller | None) -> Viewer | None:
    """How `caller` sees users: their own private fields, and everyone's with
    `users.read_private` (asked only of a signed-in caller)."""
    if caller is None:
        return None
    return Viewer(caller.user.id, await caller.can(READ_PRIVATE.name))
