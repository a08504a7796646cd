"""How tiers react to users' events (core/events.py)."""

from __future__ import annotations

from app.core.events import EventContext, Handler
from app.tiers.repository import TierRepository
from app.users.events import UserDeleted


async def drop_tier(context: EventContext, event: UserDeleted) -> None:
    """A deleted account holds no tier, in the deletion's transaction, whoever deleted it: a
    tier is refused deletion (409) only while live users have it."""
    await TierRepository(context.db).unassign(event.user_id)


HANDLERS = (Handler(UserDeleted, drop_tier),)
