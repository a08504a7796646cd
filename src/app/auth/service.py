"""Login, refresh-token rotation with reuse detection, logout, and sessions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from app.auth.events import SessionReused
from app.auth.repository import SessionRepository
from app.auth.schemas import SessionRead
from app.core.db import Db
from app.core.errors import NotFound, Unauthorized
from app.core.events import publish
from app.core.state import Resources
from app.platform.rate_limit import Limit, RateLimiter
from app.platform.security import (
    InvalidToken,
    IssuedToken,
    PasswordHasher,
    TokenClaims,
    TokenCodec,
    TokenType,
    new_jti,
)
from app.users.models import User
from app.users.repository import UserRepository
from app.users.schemas import MAX_PASSWORD_LENGTH
from app.users.verification import EmailVerification

logger = logging.getLogger("app.auth")

MAX_LOGIN_LENGTH = 320
BAD_LOGIN = "Incorrect username or password"
BAD_REFRESH = "Invalid or expired refresh token"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    refresh: IssuedToken


@dataclass(frozen=True, slots=True)
class Client:
    """Who is calling, as a session records it."""

    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The account a login names (None when no active account matches) and the failure
    budget it is counted against."""

    account: User | None
    limiter: RateLimiter
    failures: Limit
    identifiers: tuple[str, ...]

    async def check_password(self, hasher: PasswordHasher, password: str) -> User:
        """The account, when `password` is its password. A failure counts against the
        account's budget and is a 401; a success clears the budget (and upgrades an old hash).
        """
        user = self.account
        valid, new_hash = False, None
        # No account can match an oversized password: refuse it without spending a hash.
        # Else the hash is checked even for an unknown login, so both take the same time.
        if len(password) <= MAX_PASSWORD_LENGTH:
            valid, new_hash = await hasher.verify(password, user.hashed_password if user else None)
        if user is None or not valid:
            await self.limiter.hit(self.failures, *self.identifiers)
            raise Unauthorized(BAD_LOGIN)
        await self.limiter.clear(self.failures, *self.identifiers)
        if new_hash is not None:
            user.hashed_password = new_hash
        return user


def issue_pair(
    codec: TokenCodec, user_id: int, session_id: int, refresh_jti: str | None = None
) -> TokenPair:
    return TokenPair(
        access=codec.issue(user_id, TokenType.ACCESS, session_id),
        refresh=codec.issue(user_id, TokenType.REFRESH, session_id, refresh_jti),
    )


async def find_login_account(db: Db, login: str) -> User | None:
    """The active account a login (username or email) names, or None. Inputs that no account
    can match are refused here, before any query."""
    login = login.strip()
    if not login or len(login) > MAX_LOGIN_LENGTH or "\x00" in login:
        return None
    return await UserRepository(db).get_by_login(login)


async def account_for_change(db: Db, user_id: int) -> User | None:
    """The signed-in user's active account, loaded to be changed (its password)."""
    user = await UserRepository(db).get_by_id(user_id)
    return None if user is None or user.is_deleted else user


async def login(
    db: Db,
    hasher: PasswordHasher,
    codec: TokenCodec,
    attempt: LoginAttempt,
    password: str,
    client: Client,
    *,
    verification: EmailVerification | None = None,
) -> TokenPair:
    """Check the password, then start a session: a new refresh-token family. With
    `verification`, an account it refuses (an unverified address, when required) is a 403."""
    user = await attempt.check_password(hasher, password)
    if verification is not None:
        verification.check_sign_in(user)
    jti = new_jti()
    expires_at = datetime.now(UTC) + codec.ttl(TokenType.REFRESH)
    session_id = await SessionRepository(db).start(
        user.id, jti, expires_at, client.ip, client.user_agent
    )
    return issue_pair(codec, user.id, session_id, jti)


def _refresh_claims(codec: TokenCodec, refresh_token: str | None) -> TokenClaims:
    if not refresh_token:
        raise Unauthorized("Refresh token missing")
    try:
        return codec.decode(refresh_token, TokenType.REFRESH)
    except InvalidToken:
        raise Unauthorized(BAD_REFRESH) from None


async def refresh(
    db: Db, resources: Resources, refresh_token: str | None, client: Client
) -> TokenPair:
    """Spend the session's newest refresh token for a new pair. A token of the session that
    was spent before means that two parties hold the family: the session ends (reuse
    detection), for the legitimate holder too, who signs in again, and `SessionReused` is
    published in the same transaction."""
    codec = resources.token_codec
    claims = _refresh_claims(codec, refresh_token)
    sessions = SessionRepository(db)
    pair = issue_pair(codec, claims.subject, claims.session_id)
    if await sessions.rotate(
        claims,
        pair.refresh.claims.jti,
        pair.refresh.claims.expires_at,
        client.ip,
        client.user_agent,
    ):
        return pair
    if await sessions.revoke_on_reuse(claims):
        await publish(db, resources, SessionReused(claims.subject, claims.session_id))
        # Committed here (with what the handlers did and queued), as the 401 below rolls the
        # request's transaction back.
        await db.commit_now()
        logger.warning(
            "refresh token reuse: session %d of user %d ended (token presented from %s)",
            claims.session_id,
            claims.subject,
            client.ip,
        )
    raise Unauthorized(BAD_REFRESH)


def _claims_or_none(
    codec: TokenCodec, token: str | None, token_type: TokenType
) -> TokenClaims | None:
    if not token:
        return None
    try:
        return codec.decode(token, token_type)
    except InvalidToken:
        return None


async def logout(
    db: Db, codec: TokenCodec, access_token: str | None, refresh_token: str | None
) -> None:
    """End the session(s) of the tokens presented; at least one must be usable: an access
    token of a live session, or the newest refresh token of one."""
    sessions = SessionRepository(db)
    ended = False
    access = _claims_or_none(codec, access_token, TokenType.ACCESS)
    if access is not None:
        ended = await sessions.revoke(access.session_id, access.subject)
    refresh_claims = _claims_or_none(codec, refresh_token, TokenType.REFRESH)
    if refresh_claims is not None:
        ended = await sessions.revoke_for_refresh(refresh_claims) or ended
    if not ended:
        raise Unauthorized()


async def list_sessions(db: Db, user_id: int, current: int) -> list[SessionRead]:
    """The user's live sessions, most recently used first; `current` is the caller's."""
    rows = await SessionRepository(db).live(user_id)
    return [SessionRead.model_validate(dict(row, current=row["id"] == current)) for row in rows]


async def end_session(db: Db, user_id: int, session_id: int) -> None:
    if not await SessionRepository(db).revoke(session_id, user_id):
        raise NotFound("Session not found")


async def end_other_sessions(db: Db, user_id: int, current: int) -> int:
    return await SessionRepository(db).revoke_all(user_id, keep=current)
