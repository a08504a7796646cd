from __future__ import annotations

from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import RevokedToken
from app.core.db import utcnow
from app.core.query import Query
from app.core.security import TokenClaims
from app.users.models import User
from app.users.repository import LIVE, PRIVATE_COLUMNS

# The token check of every authenticated request: the token's user, if active, unless the
# token is revoked; one statement, no transaction (core/query.py).
TOKEN_USER = Query(
    select(*PRIVATE_COLUMNS).where(
        User.id == bindparam("user_id"),
        LIVE,
        ~exists().where(RevokedToken.jti == bindparam("jti")),
    )
)


class TokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revoke(self, claims: TokenClaims) -> bool:
        """Record the token as revoked; False when it already was (in this or another process).

        The primary key makes this the single point where two concurrent uses of one refresh
        token are told apart: exactly one insert wins.
        """
        values = {"jti": claims.jti, "expires_at": claims.expires_at}
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(RevokedToken)
            .values(values)
            .on_conflict_do_nothing(index_elements=[RevokedToken.jti])
            .returning(RevokedToken.jti)
        )
        inserted = await self.session.scalar(statement)
        return inserted is not None

    async def purge_expired(self) -> None:
        await self.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))

    async def active_user_for(self, claims: TokenClaims) -> User | None:
        """In this session's transaction: the token's user, if active and the token is not
        revoked (the write paths: refresh and logout)."""
        revoked = exists().where(RevokedToken.jti == claims.jti)
        return await self.session.scalar(
            select(User).where(User.id == claims.subject, LIVE, ~revoked)
        )
