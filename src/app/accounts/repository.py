from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from app.accounts.models import LinkToken
from app.core.db import utcnow
from app.core.repository import Repository
from app.users.models import User
from app.users.repository import LIVE

# Spent and expired tokens are kept this long, then purged.
KEEP_ENDED = timedelta(days=1)


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountRepository(Repository[User]):
    """The active accounts that the link flows change."""

    model = User

    async def live(self, user_id: int) -> User | None:
        return await self.session.scalar(select(User).where(User.id == user_id, LIVE))

    async def with_address(self, email: str) -> User | None:
        """The account whose address, or whose pending new address, `email` is."""
        return await self.session.scalar(
            select(User).where(or_(User.email == email, User.pending_email == email), LIVE)
        )

    async def with_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email, LIVE))


class LinkTokenRepository(Repository[LinkToken]):
    """Tokens of verification and reset links: only their hashes are stored."""

    model = LinkToken

    async def issue(self, user_id: int, purpose: str, email: str, ttl: timedelta) -> str:
        """A new token for the link (256 random bits); its earlier unused ones of the same
        purpose stop working, so only the newest link works."""
        await self.retire(user_id, purpose)
        token = secrets.token_urlsafe(32)
        self.session.add(
            LinkToken(
                user_id=user_id,
                purpose=purpose,
                token_hash=hash_link_token(token),
                email=email,
                expires_at=utcnow() + ttl,
            )
        )
        await self.session.flush()
        return token

    async def spend(self, token: str, purpose: str) -> tuple[int, str] | None:
        """Mark the token used: (user id, address) when it was unused, unexpired and for this
        purpose; None otherwise. Of two concurrent uses, exactly one succeeds."""
        now = utcnow()
        row = (
            await self.session.execute(
                update(LinkToken)
                .where(
                    LinkToken.token_hash == hash_link_token(token),
                    LinkToken.purpose == purpose,
                    LinkToken.used_at.is_(None),
                    LinkToken.expires_at > now,
                )
                .values(used_at=now)
                .returning(LinkToken.user_id, LinkToken.email)
            )
        ).first()
        return None if row is None else (row.user_id, row.email)

    async def retire(self, user_id: int, purpose: str) -> None:
        await self.session.execute(
            update(LinkToken)
            .where(
                LinkToken.user_id == user_id,
                LinkToken.purpose == purpose,
                LinkToken.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )

    async def purge(self) -> int:
        cutoff = utcnow() - KEEP_ENDED
        result = await self.session.execute(
            delete(LinkToken)
            .where(or_(LinkToken.used_at < cutoff, LinkToken.expires_at < cutoff))
            .returning(LinkToken.id)
        )
        return len(result.all())
