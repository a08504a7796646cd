"""The request's caller with the app's user (core/identity.py reads and checks the
credentials): what routes depend on.

    @router.get("/notes/mine")
    async def my_notes(user: CurrentUser) -> list[NoteRead]: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core import identity
from app.core.state import get_resources
from app.users.permissions import READ_PRIVATE
from app.users.schemas import UserReadPrivate
from app.users.service import ReservedUsernames, Viewer
from app.users.verification import EMAIL_VERIFICATION, EmailVerification

Caller = identity.Caller[UserReadPrivate]
OptionalCaller = Annotated[Caller | None, Depends(identity.get_optional_caller)]
CurrentCaller = Annotated[Caller, Depends(identity.get_current_caller)]
# Signed in with a session: the operations that manage the account take no other credential.
SessionCaller = Annotated[Caller, Depends(identity.get_session_caller)]


async def get_optional_user(caller: OptionalCaller) -> UserReadPrivate | None:
    return caller.user if caller is not None else None


async def get_current_user(caller: CurrentCaller) -> UserReadPrivate:
    return caller.user


async def get_session_user(caller: SessionCaller) -> UserReadPrivate:
    return caller.user


# The signed-in user as the API shows them to themselves (UserReadPrivate): what handlers
# compare and present. A service that changes the account loads it in its unit of work.
OptionalUser = Annotated[UserReadPrivate | None, Depends(get_optional_user)]
CurrentUser = Annotated[UserReadPrivate, Depends(get_current_user)]
SessionUser = Annotated[UserReadPrivate, Depends(get_session_user)]


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
