"""Changing the password, and the daily purge of ended sessions.

The flows that mail a link (email verification and change, password reset) are a feature of
their own (app/accounts).
"""

from __future__ import annotations

from app.auth.events import PasswordChanged
from app.auth.repository import SessionRepository
from app.auth.service import LoginAttempt
from app.core.db import Db, unit_of_work
from app.core.errors import BadRequest, Unauthorized
from app.core.events import publish
from app.core.state import Resources
from app.platform.queue import JobContext


async def change_password(
    db: Db,
    resources: Resources,
    attempt: LoginAttempt,
    current_password: str,
    new_password: str,
    current_session: int,
) -> int:
    """Set a new password once the current one is checked (failures count as failed logins);
    every session but the caller's ends, and the handlers of `PasswordChanged` run in the same
    transaction (API keys are revoked, reset links retired). Returns how many sessions
    ended."""
    try:
        user = await attempt.check_password(resources.hasher, current_password)
    except Unauthorized:
        raise BadRequest("Current password is incorrect") from None
    user.hashed_password = await resources.hasher.hash(new_password)
    ended = await SessionRepository(db).revoke_all(user.id, keep=current_session)
    await publish(db, resources, PasswordChanged(user.id, reset=False))
    return ended


async def purge_auth_records(ctx: JobContext) -> int:
    """Delete sessions that ended over a day ago; returns how many."""
    async with unit_of_work(ctx["resources"]) as db:
        return await SessionRepository(db).purge()
