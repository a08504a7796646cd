"""Password hashing (off the event loop) and JSON Web Tokens."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from app.core.config import Settings
from app.core.state import get_resources


class PasswordHasher:
    """Argon2id hashing run in worker threads, so a login never blocks the event loop.

    New hashes are Argon2id; bcrypt hashes (from an older system) still verify and are
    upgraded on the next successful login.

        hasher = PasswordHasher(settings)
        stored = await hasher.hash("s3cret-password")
        ok, upgraded = await hasher.verify("s3cret-password", stored)
    """

    def __init__(self, settings: Settings, *, max_threads: int | None = None) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.PASSWORD_HASH_TIME_COST,
                    memory_cost=settings.PASSWORD_HASH_MEMORY_KIB,
                    parallelism=settings.PASSWORD_HASH_PARALLELISM,
                ),
                BcryptHasher(),
            )
        )
        # Hashing has threads of its own, as many as this process's share of the cores
        # (WEB_CONCURRENCY server processes share them): more only queues work in memory and
        # competes with the event loops. Each thread keeps one Argon2 buffer (19 MiB by
        # default) in its malloc arena, so few threads also keep the memory flat.
        threads = max_threads or max(1, (os.cpu_count() or 1) // settings.WEB_CONCURRENCY)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="password-hash")
        # Verified against when the account does not exist, so that a failed login costs
        # the same time either way.
        self._dummy_hash = self._hash.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hash.hash, password)

    async def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Check a password; returns (valid, new hash to store when the old one is outdated)."""
        target = stored_hash or self._dummy_hash
        loop = asyncio.get_running_loop()
        valid, updated = await loop.run_in_executor(
            self._executor, self._verify_sync, password, target
        )
        if stored_hash is None:
            return False, None
        return valid, updated

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _verify_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        try:
            return self._hash.verify_and_update(password, stored_hash)
        except ValueError:
            # bcrypt refuses passwords over 72 bytes rather than truncating: not a match.
            return False, None


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: int
    token_type: TokenType
    jti: str
    expires_at: datetime
    # The session (one login: a refresh-token family) the token belongs to
    session_id: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


class InvalidToken(Exception):
    pass


VERIFIED_TOKENS_KEPT = 10_000
# No token of ours lives longer than the longest REFRESH_TOKEN_EXPIRE_DAYS allows (365 days);
# a signed token that claims more is not one we issued.
LONGEST_LIFETIME_SECONDS = 366 * 86400


def new_jti() -> str:
    return secrets.token_hex(16)


class TokenCodec:
    """Signs and checks access and refresh tokens; each carries its type and a unique id."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key
        self._algorithm = settings.ALGORITHM
        self._issuer = settings.APP_NAME
        self._ttl = {
            TokenType.ACCESS: timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
            TokenType.REFRESH: timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
        }
        # Tokens whose signature and claims this process has verified: a token presented
        # again (a client's every request) costs a lookup and an expiry check, not the HMAC and
        # the JSON. Only what passed verification is kept; revocation is checked elsewhere, on
        # every use (auth/dependencies.py).
        self._verified: dict[str, TokenClaims] = {}

    def ttl(self, token_type: TokenType) -> timedelta:
        return self._ttl[token_type]

    def issue(
        self, subject: int, token_type: TokenType, session_id: int, jti: str | None = None
    ) -> IssuedToken:
        now = datetime.now(UTC).replace(microsecond=0)
        expires_at = now + self._ttl[token_type]
        jti = jti or new_jti()
        payload = {
            "sub": str(subject),
            "sid": session_id,
            "type": token_type.value,
            "jti": jti,
            "iat": now,
            "exp": expires_at,
            "iss": self._issuer,
        }
        token = jwt.encode(payload, self._key, algorithm=self._algorithm)
        return IssuedToken(token, TokenClaims(subject, token_type, jti, expires_at, session_id))

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at.timestamp() <= time.time():
                del self._verified[token]
                raise InvalidToken("Signature has expired")
            if known.token_type is not expected:
                raise InvalidToken("wrong token type")
            return known
        claims = self._verify(token, expected)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str, expected: TokenType) -> TokenClaims:
        if len(token) > 4096:
            raise InvalidToken("token too long")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={"require": ["sub", "sid", "type", "jti", "iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if payload.get("type") != expected.value:
            raise InvalidToken("wrong token type")
        sub, jti, sid = payload.get("sub"), payload.get("jti"), payload.get("sid")
        if not isinstance(sub, str) or not sub.isdigit() or not isinstance(jti, str):
            raise InvalidToken("malformed claims")
        if type(sid) is not int or not 0 < sid < 2**31:
            raise InvalidToken("malformed claims")
        if len(sub) > 18 or len(jti) > 64:
            raise InvalidToken("malformed claims")
        exp, iat = payload["exp"], payload["iat"]
        if type(exp) is not int or type(iat) is not int:
            raise InvalidToken("malformed claims")
        if not iat < exp <= iat + LONGEST_LIFETIME_SECONDS:
            raise InvalidToken("malformed claims")
        expires_at = datetime.fromtimestamp(exp, UTC)
        return TokenClaims(int(sub), expected, jti, expires_at, sid)


async def get_hasher(request: Request) -> PasswordHasher:
    return get_resources(request).hasher


async def get_token_codec(request: Request) -> TokenCodec:
    return get_resources(request).token_codec


HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
TokenCodecDep = Annotated[TokenCodec, Depends(get_token_codec)]
