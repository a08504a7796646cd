"""What auth publishes (core/events.py): handlers run inside the transaction that made the
change, so what they do commits with it or not at all. And how auth reacts to users' events:
a deleted account's sessions end, so that restoring it brings none of them back."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.repository import SessionRepository
from app.core.events import Event, EventContext, Handler
from app.users.events import UserDeleted


@dataclass(frozen=True, slots=True)
class PasswordChanged(Event):
    """The user's password was set: changed by the signed-in user, or reset (`reset`) with a
    link sent to the account's address. Credentials that outlive sessions should end too."""

    user_id: int
    reset: bool


@dataclass(frozen=True, slots=True)
class SessionReused(Event):
    """A spent refresh token of a live session was presented again, so two parties hold the
    session's tokens: the session has ended (reuse detection). Whatever was made from it may
    be in the wrong hands."""

    user_id: int
    session_id: int


async def end_sessions(context: EventContext, event: UserDeleted) -> None:
    """Every session of a deleted account ends, in the deletion's transaction, whoever
    deleted it (its owner through the API, or an admin)."""
    await SessionRepository(context.db).revoke_all(event.user_id)


HANDLERS = (Handler(UserDeleted, end_sessions),)
