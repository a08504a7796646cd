from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from app.auth.models import AuthSession
from app.core.db import utcnow
from app.core.query import Query
from app.core.repository import Repository
from app.platform.security import TokenClaims
from app.users.models import User
from app.users.repository import LIVE, PRIVATE_COLUMNS

# The token check of every authenticated request: the token's user, if active and the token's
# session is not revoked; one statement, no transaction, to which the kit adds the permission
# source's grants version (core/identity.py).
TOKEN_USER = select(*PRIVATE_COLUMNS).where(
    User.id == bindparam("user_id"),
    LIVE,
    exists().where(
        AuthSession.id == bindparam("session_id"),
        AuthSession.user_id == User.id,
        AuthSession.revoked_at.is_(None),
    ),
)
# The user's sessions that can still be used, most recently used first, as SessionRead shows
# them: one statement, in one round trip (Db.rows).
_LIVE = Query(
    select(
        AuthSession.id,
        AuthSession.created_at,
        AuthSession.last_used_at,
        AuthSession.expires_at,
        AuthSession.ip,
        AuthSession.user_agent,
    )
    .where(
        AuthSession.user_id == bindparam("user_id"),
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > bindparam("now"),
    )
    .order_by(AuthSession.last_used_at.desc(), AuthSession.id.desc())
)
# A user holds at most this many live sessions; a new login ends the oldest beyond it.
MAX_SESSIONS_PER_USER = 100
# How long ended sessions and spent or expired link tokens are kept before the daily purge.
KEEP_ENDED = timedelta(days=1)


def _seen_from(ip: str, user_agent: str) -> dict[str, str | None]:
    """The client columns of a session as stored: the user agent without control characters
    (NUL included), each within its column's length."""
    kept = "".join(ch for ch in user_agent[:1024] if ch.isprintable())
    return {"ip": ip[:45], "user_agent": kept[:255] or None}


class SessionRepository(Repository[AuthSession]):
    """Sessions (refresh-token families) of users."""

    model = AuthSession

    async def start(
        self, user_id: int, refresh_jti: str, expires_at: datetime, ip: str, user_agent: str
    ) -> int:
        """A new session of the user; returns its id. Under the cap, the check costs one read
        of at most MAX_SESSIONS_PER_USER entries of the partial index of live sessions."""
        now = utcnow()
        session_id: int = (
            await self.session.execute(
                insert(AuthSession)
                .values(
                    user_id=user_id,
                    refresh_jti=refresh_jti,
                    created_at=now,
                    last_used_at=now,
                    expires_at=expires_at,
                    **_seen_from(ip, user_agent),
                )
                .returning(AuthSession.id)
            )
        ).scalar_one()

        first_ended = (
            select(AuthSession.id)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .order_by(AuthSession.id.desc())
            .offset(MAX_SESSIONS_PER_USER)
            .limit(1)
            .scalar_subquery()
        )
        await self.session.execute(
            update(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.id <= first_ended,
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return session_id

    async def rotate(
        self, claims: TokenClaims, new_jti: str, expires_at: datetime, ip: str, user_agent: str
    ) -> bool:
        """Spend the refresh token of `claims`: True when it was its session's newest and the
        session and its user are live (the session then expects `new_jti`). Of two concurrent
        uses of one token, exactly one matches."""
        now = utcnow()
        rotated = await self.session.scalar(
            update(AuthSession)
            .where(
                AuthSession.id == claims.session_id,
                AuthSession.user_id == claims.subject,
                AuthSession.refresh_jti == claims.jti,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                exists().where(User.id == AuthSession.user_id, LIVE),
            )
            .values(
                refresh_jti=new_jti,
                last_used_at=now,
                expires_at=expires_at,
                **_seen_from(ip, user_agent),
            )
            .returning(AuthSession.id)
        )
        return rotated is not None

    async def revoke(self, session_id: int, user_id: int, *extra: ColumnElement[bool]) -> bool:
        """End one live session of the user, if it also matches the `extra` conditions; False
        when there is none."""
        now = utcnow()
        result = await self.session.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                *extra,
            )
            .values(revoked_at=now)
            .returning(AuthSession.id)
        )
        return result.first() is not None

    async def revoke_for_refresh(self, claims: TokenClaims) -> bool:
        """End the live session whose newest refresh token `claims` is (a logout)."""
        return await self.revoke(
            claims.session_id, claims.subject, AuthSession.refresh_jti == claims.jti
        )

    async def revoke_on_reuse(self, claims: TokenClaims) -> bool:
        """End the live session of `claims` if that refresh token is not its newest: it was
        spent before, so two parties hold the family (reuse detection)."""
        return await self.revoke(
            claims.session_id, claims.subject, AuthSession.refresh_jti != claims.jti
        )

    async def revoke_all(self, user_id: int, *, keep: int | None = None) -> int:
        """End every live session of the user but `keep`; returns how many."""
        now = utcnow()
        query = update(AuthSession).where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        if keep is not None:
            query = query.where(AuthSession.id != keep)
        result = await self.session.execute(query.values(revoked_at=now).returning(AuthSession.id))
        return len(result.all())

    async def live(self, user_id: int) -> Sequence[Mapping[str, Any]]:
        """The user's sessions that can still be used, most recently used first."""
        return await self.db.rows(_LIVE, user_id=user_id, now=utcnow())

    async def purge(self) -> int:
        cutoff = utcnow() - KEEP_ENDED
        result = await self.session.execute(
            delete(AuthSession)
            .where(or_(AuthSession.revoked_at < cutoff, AuthSession.expires_at < cutoff))
            .returning(AuthSession.id)
        )
        return len(result.all())
