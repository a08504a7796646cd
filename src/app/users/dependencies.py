from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth.dependencies import Caller
from app.core.state import get_resources
from app.users.permissions import READ_PRIVATE
from app.users.service import ReservedUsernames, Viewer
from app.users.verification import EMAIL_VERIFICATION, EmailVerification


async def viewer_of(caller: Caller | None) -> Viewer | None:
    """How `caller` sees users: their own private fields, and everyone's with
    `users.read_private` (asked only of a signed-in caller)."""
    if caller is None:
        return None
    return Viewer(caller.user.id, await caller.can(READ_PRIVATE.name))


async def get_reserved_usernames(request: Request) -> ReservedUsernames:
    """What registration and renames refuse: the app's path words (computed from its routes
    when it started) and the reserved names."""
    return ReservedUsernames(get_resources(request).path_words)


ReservedUsernamesDep = Annotated[ReservedUsernames, Depends(get_reserved_usernames)]


async def get_email_verification(request: Request) -> EmailVerification | None:
    """The installed feature that verifies addresses, while it is on; else None."""
    return get_resources(request).extensions.get(EMAIL_VERIFICATION)


EmailVerificationDep = Annotated[EmailVerification | None, Depends(get_email_verification)]
