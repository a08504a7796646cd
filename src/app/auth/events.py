"""What auth publishes (core/events.py): handlers run inside the transaction that made the
change, so what they do commits with it or not at all."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


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
