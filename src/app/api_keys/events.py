"""What API keys do when auth says that credentials may be in the wrong hands (auth/events.py).
A key outlives the session it was made from, so:

- a password change or reset revokes every key of the account: whoever held a stolen session
  and minted a key loses it when the owner recovers the account;
- a session ended by reuse detection revokes the keys created from that session only.

Ending a session otherwise (logout, `DELETE /user/me/sessions/{id}`) revokes nothing: it
says nothing about theft, and a user who signs out keeps the keys their scripts run on.

Deleting an account (users' `UserDeleted`) revokes every key of it, without a mail: a
deleted account's keys already stop working, and this way restoring it brings none back,
as none of its sessions come back.

The keys are revoked in the transaction that changed the password or ended the session, and
the owner is mailed (a `Mail` published in that same transaction: core/messages.py) the names
and prefixes of the keys that were revoked, when there were any. Without the mail feature
installed, nothing is sent.
"""

from __future__ import annotations

from pathlib import Path

from app.api_keys.models import ApiKey
from app.api_keys.repository import KEY_PREFIX, ApiKeyRepository
from app.auth.events import PasswordChanged, SessionReused
from app.core.events import EventContext, Handler, publish
from app.core.messages import Templates
from app.users.events import UserDeleted
from app.users.repository import UserRepository

TEMPLATES = Templates(Path(__file__).parent / "templates")

# Why the keys were revoked, and what to do about it.
_CHANGED = (
    "The password of your account was changed",
    "If you did not change it, reset your password now: that revokes any key made since.",
)
_RESET = (
    "The password of your account was reset with a link sent to this address",
    "If you did not reset it, reset it again now: that revokes any key made since.",
)
_REUSED = (
    "A session of your account was ended because one of its refresh tokens was used twice, "
    "a sign that someone else held it",
    "Keys created from your other sessions still work. If you do not know why this "
    "happened, change your password: that revokes every key.",
)


def key_line(key: ApiKey) -> str:
    """How a key is named in a mail: its name (on one line) and its prefix, never a secret."""
    return f"- {' '.join(key.name.split())} ({KEY_PREFIX}{key.prefix}_...)"


async def _tell_owner(
    context: EventContext, user_id: int, keys: list[ApiKey], why: tuple[str, str]
) -> None:
    if not keys:
        return
    user = await UserRepository(context.db).get_by_id(user_id)
    if user is None:
        return
    settings = context.resources.settings
    reason, advice = why
    mail = TEMPLATES.render(
        "keys_revoked",
        to=user.email,
        app_name=settings.APP_NAME,
        name=user.name,
        reason=reason,
        keys="\n".join(key_line(key) for key in keys),
        advice=advice,
    )
    await publish(context.db, context.resources, mail)


async def revoke_on_password_change(context: EventContext, event: PasswordChanged) -> None:
    keys = await ApiKeyRepository(context.db).revoke_all(event.user_id)
    await _tell_owner(context, event.user_id, keys, _RESET if event.reset else _CHANGED)


async def revoke_on_session_reuse(context: EventContext, event: SessionReused) -> None:
    repo = ApiKeyRepository(context.db)
    keys = await repo.revoke_all(event.user_id, session_id=event.session_id)
    await _tell_owner(context, event.user_id, keys, _REUSED)


async def revoke_on_deletion(context: EventContext, event: UserDeleted) -> None:
    await ApiKeyRepository(context.db).revoke_all(event.user_id)


HANDLERS = (
    Handler(PasswordChanged, revoke_on_password_change),
    Handler(SessionReused, revoke_on_session_reuse),
    Handler(UserDeleted, revoke_on_deletion),
)
