from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from app.core.messages import Mail
from app.core.repository import Repository
from app.mail.models import OutboxMail


class OutboxRepository(Repository[OutboxMail]):
    """The messages waiting to be sent."""

    model = OutboxMail

    def put(self, mail: Mail) -> OutboxMail:
        """Add `mail` to the outbox in the unit of work's transaction (its id is set when the
        transaction sends it)."""
        row = OutboxMail(
            recipient=mail.to, subject=mail.subject, text_body=mail.text, html_body=mail.html
        )
        self.session.add(row)
        return row

    async def claim(self, outbox_id: int, now: datetime, hold: timedelta) -> OutboxMail | None:
        """Hold the message for one try, until `now + hold`, and count the try; None when it
        is gone (sent), failed for good, or held by another try."""
        claimed = (
            update(OutboxMail)
            .where(
                OutboxMail.id == outbox_id,
                OutboxMail.failed_at.is_(None),
                or_(OutboxMail.locked_until.is_(None), OutboxMail.locked_until <= now),
            )
            .values(locked_until=now + hold, attempts=OutboxMail.attempts + 1)
            .returning(OutboxMail)
        )
        return await self.session.scalar(claimed)

    async def remove(self, outbox_id: int) -> None:
        await self.session.execute(delete(OutboxMail).where(OutboxMail.id == outbox_id))

    async def note(self, outbox_id: int, values: dict[str, Any]) -> None:
        """Record how a try ended (`failed_at`, `locked_until`, `last_error`)."""
        await self.session.execute(
            update(OutboxMail).where(OutboxMail.id == outbox_id).values(values)
        )

    async def waiting(self, now: datetime, created_before: datetime, limit: int) -> Sequence[int]:
        """The ids of up to `limit` messages created before `created_before`, not failed for
        good, whose claim has lapsed, oldest first."""
        ids = await self.session.scalars(
            select(OutboxMail.id)
            .where(
                OutboxMail.failed_at.is_(None),
                OutboxMail.created_at <= created_before,
                or_(OutboxMail.locked_until.is_(None), OutboxMail.locked_until <= now),
            )
            .order_by(OutboxMail.id)
            .limit(limit)
        )
        return ids.all()
