"""Password hashing (off the event loop) and JSON Web Tokens."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import anyio
import jwt
from fastapi import Depends, Request
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from app.core.config import Settings


def _return_large_blocks_to_the_system() -> None:
    """Each Argon2 hash allocates its whole memory cost (19 MiB by default) and frees it.
    glibc raises its mmap threshold after such a free, so later hashes come from the heap of
    whichever thread ran them and stay resident: tens of MiB per process. A fixed threshold
    keeps every large block mmapped and gives it back when freed."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)


_M_MMAP_THRESHOLD = -3


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
        _return_large_blocks_to_the_system()
        # Hashes at most one per core at a time: more only queues work in memory and
        # takes threads from the rest of the app.
        self._limiter = anyio.CapacityLimiter(max_threads or os.cpu_count() or 1)
        # Verified against when the account does not exist, so that a failed login costs
        # the same time either way.
        self._dummy_hash = self._hash.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash.hash, password, limiter=self._limiter)

    async def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Check a password; returns (valid, new hash to store when the old one is outdated)."""
        target = stored_hash or self._dummy_hash
        valid, updated = await anyio.to_thread.run_sync(
            self._verify_sync, password, target, limiter=self._limiter
        )
        if stored_hash is None:
            return False, None
        return valid, updated

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


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


class InvalidToken(Exception):
    pass


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

    def ttl(self, token_type: TokenType) -> timedelta:
        return self._ttl[token_type]

    def issue(self, subject: int, token_type: TokenType) -> IssuedToken:
        now = datetime.now(UTC).replace(microsecond=0)
        expires_at = now + self._ttl[token_type]
        jti = secrets.token_hex(16)
        payload = {
            "sub": str(subject),
            "type": token_type.value,
            "jti": jti,
            "iat": now,
            "exp": expires_at,
            "iss": self._issuer,
        }
        token = jwt.encode(payload, self._key, algorithm=self._algorithm)
        return IssuedToken(token, TokenClaims(subject, token_type, jti, expires_at))

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        if len(token) > 4096:
            raise InvalidToken("token too long")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={"require": ["sub", "type", "jti", "iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if payload.get("type") != expected.value:
            raise InvalidToken("wrong token type")
        sub, jti = payload.get("sub"), payload.get("jti")
        if not isinstance(sub, str) or not sub.isdigit() or not isinstance(jti, str):
            raise InvalidToken("malformed claims")
        if len(sub) > 18 or len(jti) > 64:
            raise InvalidToken("malformed claims")
        expires_at = datetime.fromtimestamp(int(payload["exp"]), UTC)
        return TokenClaims(int(sub), expected, jti, expires_at)


async def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


async def get_token_codec(request: Request) -> TokenCodec:
    codec: TokenCodec = request.app.state.token_codec
    return codec


HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
TokenCodecDep = Annotated[TokenCodec, Depends(get_token_codec)]
