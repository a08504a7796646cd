"""Login, refresh-token rotation, logout and token checks, tested over HTTP.

Every test runs against the real PostgreSQL database of the run; a second app instance on the
same database stands in for a second server process.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pwdlib.hashers.bcrypt import BcryptHasher

from app.core.config import Settings
from tests.helpers.database import execute
from tests.helpers.http import (
    AppClientFactory,
    Headers,
    assert_unauthorized,
    bearer,
    client_for,
    login,
    login_response,
    register,
)
from tests.helpers.settings import PASSWORD, TEST_SECRET_KEY

REFRESH = "/api/v1/refresh"
LOGOUT = "/api/v1/logout"
ME = "/api/v1/user/me/"
COOKIE = "refresh_token"


# --- helpers ------------------------------------------------------------------------------


class SetCookie(NamedTuple):
    value: str
    attrs: dict[str, str]  # lower-cased attribute names; flags map to ""


def refresh_set_cookie(response: httpx.Response) -> SetCookie:
    """The one `Set-Cookie` header for the refresh token, parsed from the raw header."""
    headers = [
        value
        for value in response.headers.get_list("set-cookie")
        if value.strip().startswith(f"{COOKIE}=")
    ]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    first, *rest = (part.strip() for part in headers[0].split(";"))
    _, _, value = first.partition("=")
    attrs = {}
    for part in rest:
        name, _, attr_value = part.partition("=")
        attrs[name.strip().lower()] = attr_value.strip()
    return SetCookie(value.strip('"'), attrs)


def cookie_header(refresh_token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={refresh_token}"}


async def login_pair(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> tuple[str, str]:
    """(access token, refresh token) from a successful login."""
    response = await login_response(client, username, password)
    assert response.status_code == 200, response.text
    return response.json()["access_token"], refresh_set_cookie(response).value


@asynccontextmanager
async def bare_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose cookie jar is never used: cookies are passed explicitly."""
    async with client_for(app) as client:
        yield client


def claims_of(token: str) -> dict[str, Any]:
    """A token's claims, read without checking its signature."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def live_session(client: httpx.AsyncClient, username: str) -> tuple[int, str]:
    """A new session of `username` (a real login): its id and its current refresh token's
    jti, what a crafted token needs to pass as one of that session's."""
    _, refresh = await login_pair(client, username)
    claims = claims_of(refresh)
    return claims["sid"], claims["jti"]


def craft_token(
    user_id: int | str,
    *,
    sid: Any,
    key: str = TEST_SECRET_KEY,
    algorithm: str = "HS256",
    drop: tuple[str, ...] = (),
    **overrides: Any,
) -> str:
    """A token signed like the app's: `sid` must name a live session of the user for it to
    be accepted (see `live_session`)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "sid": sid,
        "type": "access",
        "jti": secrets.token_hex(16),
        "iat": now,
        "exp": now + 600,
        "iss": "API starter",
    }
    payload.update(overrides)
    for claim in drop:
        payload.pop(claim)
    with warnings.catch_warnings():
        # HS512 with the test key is shorter than RFC 7518 recommends; irrelevant here.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(payload, key if algorithm != "none" else None, algorithm=algorithm)


# --- login ----------------------------------------------------------------------------------


async def test_login_returns_bearer_token_and_refresh_cookie(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "alice")
    response = await login_response(client, "alice")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["expires_in"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60

    cookie = refresh_set_cookie(response)
    assert cookie.value
    assert cookie.value != body["access_token"]
    assert "httponly" in cookie.attrs
    assert cookie.attrs.get("samesite", "").lower() == "lax"
    assert cookie.attrs.get("path") == "/api/v1"
    assert cookie.attrs.get("max-age") == str(settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400)
    assert "secure" not in cookie.attrs  # ENVIRONMENT=local serves plain http

    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


async def test_login_tokens_carry_type_issuer_and_expiry(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await register(client, "alice")
    access, refresh = await login_pair(client, "alice")
    a = jwt.decode(access, TEST_SECRET_KEY, algorithms=["HS256"], issuer=settings.APP_NAME)
    r = jwt.decode(refresh, TEST_SECRET_KEY, algorithms=["HS256"], issuer=settings.APP_NAME)
    assert (a["type"], r["type"]) == ("access", "refresh")
    assert a["sub"] == r["sub"] == str(user["id"])
    # Both belong to the login's session.
    assert isinstance(a["sid"], int)
    assert a["sid"] == r["sid"]
    assert a["jti"] != r["jti"]
    assert a["exp"] - a["iat"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    assert r["exp"] - r["iat"] == settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400


async def test_login_by_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await register(client, "carol", email="carol@example.com")
    response = await login_response(client, "Carol@EXAMPLE.com")
    assert response.status_code == 200, response.text
    me = await client.get(ME, headers=bearer(response.json()["access_token"]))
    assert me.json()["username"] == "carol"


async def test_refresh_cookie_is_secure_outside_local(
    client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    await register(client, "alice")
    async with app_client(
        ENVIRONMENT="staging",
        ADMIN_PASSWORD="Another-admin-pw-9",
        # Outside local, the mail features need SMTP; this test is about the cookie.
        EMAIL_VERIFICATION_ENABLED=False,
        PASSWORD_RESET_ENABLED=False,
    ) as other:
        response = await login_response(other, "alice")
        assert response.status_code == 200, response.text
        cookie = refresh_set_cookie(response)
        assert "secure" in cookie.attrs
        assert "httponly" in cookie.attrs
        assert cookie.attrs.get("samesite", "").lower() == "lax"
        assert cookie.attrs.get("path") == "/api/v1"

        refreshed = await other.post(REFRESH, headers=cookie_header(cookie.value))
        assert refreshed.status_code == 200, refreshed.text
        assert "secure" in refresh_set_cookie(refreshed).attrs

        token = refreshed.json()["access_token"]
        new_cookie = refresh_set_cookie(refreshed).value
        out = await other.post(LOGOUT, headers={**bearer(token), **cookie_header(new_cookie)})
        assert out.status_code == 200, out.text
        cleared = refresh_set_cookie(out)
        assert "secure" in cleared.attrs
        assert cleared.attrs.get("max-age") == "0"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong-password-1"),
        ("nobody", PASSWORD),
        ("nobody@example.com", PASSWORD),
        ("ALICE@example.com", "wrong-password-1"),
    ],
    ids=["wrong-password", "unknown-username", "unknown-email", "email-wrong-password"],
)
async def test_failed_login_is_401_with_one_message(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    await register(client, "alice")
    reference = await login_response(client, "nobody-at-all", "whatever-1")
    assert_unauthorized(reference)

    response = await login_response(client, username, password)
    assert_unauthorized(response)
    # The same message either way: a client cannot tell an unknown account from a bad password.
    assert response.json()["detail"] == reference.json()["detail"]
    assert not response.headers.get_list("set-cookie")


@pytest.mark.parametrize("length", [129, 10_000])
async def test_oversized_password_is_401_not_500(client: httpx.AsyncClient, length: int) -> None:
    await register(client, "alice")
    reference = await login_response(client, "alice", "wrong-password-1")
    response = await login_response(client, "alice", "a1" * (length // 2) + "a" * (length % 2))
    assert_unauthorized(response)
    assert response.json()["detail"] == reference.json()["detail"]


async def test_oversized_login_is_401_not_500(client: httpx.AsyncClient) -> None:
    response = await login_response(client, "a" * 400 + "@example.com", PASSWORD)
    assert_unauthorized(response)


async def test_failed_login_takes_the_same_time_for_unknown_and_known_users(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")

    async def timed(username: str) -> float:
        start = time.perf_counter()
        response = await login_response(client, username, "wrong-password-1")
        elapsed = time.perf_counter() - start
        assert response.status_code == 401
        return elapsed

    await timed("alice")  # warm up connections and code paths
    await timed("nobody")
    unknown: list[float] = []
    known: list[float] = []
    for _ in range(5):  # interleaved, so load changes hit both sides alike
        unknown.append(await timed("nobody"))
        known.append(await timed("alice"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 <= ratio <= 2.0, f"unknown {unknown} vs known {known}: ratio {ratio:.2f}"


async def test_password_hashing_does_not_block_the_event_loop(
    app_client: AppClientFactory,
) -> None:
    async with app_client(PASSWORD_HASH_MEMORY_KIB=65536, PASSWORD_HASH_TIME_COST=6) as client:
        await register(client, "alice")
        await login_response(client, "nobody", "whatever-1")  # warm up the pool

        for username, password, expected in [
            ("alice", PASSWORD, 200),
            ("alice", "wrong-password-1", 401),
            ("nobody", PASSWORD, 401),
        ]:
            gaps: list[float] = []
            stop = asyncio.Event()

            async def ticker() -> None:
                last = time.perf_counter()
                while not stop.is_set():  # noqa: B023 - this iteration's event
                    await asyncio.sleep(0.001)
                    now = time.perf_counter()
                    gaps.append(now - last)  # noqa: B023
                    last = now

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0.005)
            start = time.perf_counter()
            response = await login_response(client, username, password)
            duration = time.perf_counter() - start
            stop.set()
            await task

            assert response.status_code == expected, response.text
            assert gaps
            assert max(gaps) < 0.4 * duration, (
                f"{username}/{expected}: the loop stalled {max(gaps) * 1000:.1f} ms "
                f"during a {duration * 1000:.1f} ms login"
            )


# --- legacy bcrypt hashes -------------------------------------------------------------------


async def stored_hash(database_url: str, username: str) -> str:
    value: str = await execute(
        database_url, "SELECT hashed_password FROM users WHERE username = :u", u=username
    )
    return value


async def set_hash(database_url: str, username: str, hashed: str) -> None:
    await execute(
        database_url,
        "UPDATE users SET hashed_password = :h WHERE username = :u",
        h=hashed,
        u=username,
    )


async def test_bcrypt_hash_verifies_and_is_upgraded_to_argon2(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "legacy")
    legacy_hash = BcryptHasher().hash(PASSWORD)
    await set_hash(database_url, "legacy", legacy_hash)

    wrong = await login_response(client, "legacy", "wrong-password-1")
    assert_unauthorized(wrong)
    assert await stored_hash(database_url, "legacy") == legacy_hash

    token = await login(client, "legacy")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    upgraded = await stored_hash(database_url, "legacy")
    assert upgraded.startswith("$argon2id$")

    # The new hash works, and is not rewritten on every login.
    await login(client, "legacy")
    assert await stored_hash(database_url, "legacy") == upgraded


async def test_password_over_72_bytes_against_bcrypt_hash_is_401_not_500(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "legacy")
    first_72 = "ab3" * 24  # bcrypt only ever looked at 72 bytes
    legacy_hash = BcryptHasher().hash(first_72)
    await set_hash(database_url, "legacy", legacy_hash)

    # A longer password sharing those 72 bytes must not pass as a truncated match.
    response = await login_response(client, "legacy", first_72 + "xyz9")
    assert_unauthorized(response)
    response = await login_response(client, "legacy", "é" * 40 + "1")  # 81 bytes, 41 chars
    assert_unauthorized(response)
    assert await stored_hash(database_url, "legacy") == legacy_hash

    await login(client, "legacy", first_72)


# --- refresh --------------------------------------------------------------------------------


async def test_refresh_rotates_the_cookie(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "alice")
    access, first = await login_pair(client, "alice")

    response = await client.post(REFRESH)  # the cookie jar sends the login's cookie
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    new_access = response.json()["access_token"]
    assert new_access != access
    rotated = refresh_set_cookie(response)
    assert rotated.value
    assert rotated.value != first
    assert "httponly" in rotated.attrs
    assert rotated.attrs.get("path") == "/api/v1"
    assert rotated.attrs.get("samesite", "").lower() == "lax"
    assert rotated.attrs.get("max-age") == str(settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400)

    me = await client.get(ME, headers=bearer(new_access))
    assert me.status_code == 200
    assert me.json()["username"] == "alice"

    # The rotated cookie works once more; the spent one never again.
    again = await client.post(REFRESH)
    assert again.status_code == 200, again.text
    async with bare_client(app) as bare:
        reused = await bare.post(REFRESH, headers=cookie_header(first))
        assert_unauthorized(reused)
        reused_rotated = await bare.post(REFRESH, headers=cookie_header(rotated.value))
        assert_unauthorized(reused_rotated)


async def test_reused_refresh_token_is_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    _, token = await login_pair(client, "alice")
    async with bare_client(app) as bare:
        first = await bare.post(REFRESH, headers=cookie_header(token))
        assert first.status_code == 200, first.text
        second = await bare.post(REFRESH, headers=cookie_header(token))
        assert_unauthorized(second)
        assert not second.headers.get_list("set-cookie")


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "alice")
    for _ in range(5):
        _, token = await login_pair(client, "alice")
        async with bare_client(app) as one, bare_client(app) as two:
            responses = await asyncio.gather(
                one.post(REFRESH, headers=cookie_header(token)),
                two.post(REFRESH, headers=cookie_header(token)),
            )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 401], [response.text for response in responses]


async def test_refresh_without_cookie_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.post(REFRESH))


@pytest.mark.parametrize("value", ["", "abc", "a.b.c"])
async def test_refresh_with_garbage_cookie_is_401(app: FastAPI, value: str) -> None:
    async with bare_client(app) as bare:
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(value)))


async def test_access_token_is_not_a_refresh_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    access, _ = await login_pair(client, "alice")
    async with bare_client(app) as bare:
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(access)))


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    _, refresh = await login_pair(client, "alice")
    assert_unauthorized(await client.get(ME, headers=bearer(refresh)))


async def test_expired_refresh_token_is_401(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await register(client, "alice")
    sid, jti = await live_session(client, "alice")
    now = int(time.time())
    # The session's current refresh token, as far as its claims go.
    fields: dict[str, Any] = {"sid": sid, "jti": jti, "type": "refresh", "iss": settings.APP_NAME}
    valid = craft_token(user["id"], **fields)
    expired = craft_token(user["id"], **fields, iat=now - 7200, exp=now - 3600)
    async with bare_client(app) as bare:
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(expired)))
        # The same token, still valid, is accepted: only the expiry was wrong above.
        ok = await bare.post(REFRESH, headers=cookie_header(valid))
        assert ok.status_code == 200, ok.text


# --- access tokens on a protected route -----------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
        {"Authorization": "Bearer " + "a" * 5000},
    ],
    ids=["missing", "abc", "a.b.c", "empty", "basic", "huge"],
)
async def test_missing_or_malformed_token_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await register(client, "alice")
    assert_unauthorized(await client.get(ME, headers=headers))


async def test_crafted_valid_token_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The control for the crafted-token cases below: only their one change makes them fail."""
    user = await register(client, "alice")
    sid, _ = await live_session(client, "alice")
    token = craft_token(user["id"], sid=sid, iss=settings.APP_NAME)
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice"


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong-signature",
        "wrong-issuer",
        "wrong-algorithm",
        "alg-none",
        "type-refresh",
        "type-missing",
        "jti-missing",
        "sub-unknown-user",
        "sub-not-a-number",
        "sid-missing",
        "sid-a-string",
        "sid-a-float",
        "sid-zero",
        "sid-huge",
        "sid-unknown",
        "sid-of-another-user",
        "sid-of-an-ended-session",
        "exp-beyond-any-date",
        "exp-a-float",
        "exp-beyond-the-longest-lifetime",
        "exp-before-iat",
        "iat-a-string",
        "sub-huge",
    ],
)
async def test_bad_token_is_401(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, case: str
) -> None:
    user = await register(client, "alice")
    uid = user["id"]
    sid, _ = await live_session(client, "alice")
    await register(client, "bob")
    bobs_sid, _ = await live_session(client, "bob")
    ended_access, _ = await login_pair(client, "alice")
    ended_sid = claims_of(ended_access)["sid"]
    async with bare_client(app) as bare:
        assert (await bare.post(LOGOUT, headers=bearer(ended_access))).status_code == 200
    now = int(time.time())
    iss = settings.APP_NAME

    def token(user_id: int | str = uid, **changes: Any) -> str:
        return craft_token(user_id, **{"sid": sid, "iss": iss, **changes})

    crafted = {
        "expired": lambda: token(iat=now - 7200, exp=now - 3600),
        "wrong-signature": lambda: token(key="another-secret-" + "y" * 32),
        "wrong-issuer": lambda: token(iss="somebody else"),
        "wrong-algorithm": lambda: token(algorithm="HS512"),
        "alg-none": lambda: token(algorithm="none"),
        "type-refresh": lambda: token(type="refresh"),
        "type-missing": lambda: token(drop=("type",)),
        "jti-missing": lambda: token(drop=("jti",)),
        "sub-unknown-user": lambda: token(uid + 1000),
        "sub-not-a-number": lambda: token("alice"),
        "sid-missing": lambda: token(drop=("sid",)),
        "sid-a-string": lambda: token(sid=str(sid)),
        "sid-a-float": lambda: token(sid=float(sid)),
        "sid-zero": lambda: token(sid=0),
        "sid-huge": lambda: token(sid=2**63),
        "sid-unknown": lambda: token(sid=sid + 1000),
        "sid-of-another-user": lambda: token(sid=bobs_sid),
        "sid-of-an-ended-session": lambda: token(sid=ended_sid),
        "exp-beyond-any-date": lambda: token(exp=10**20),
        "exp-a-float": lambda: token(exp=1e20),
        "exp-beyond-the-longest-lifetime": lambda: token(exp=now + 400 * 86400),
        "exp-before-iat": lambda: token(iat=now, exp=now - 1),
        "iat-a-string": lambda: token(iat=str(now)),
        "sub-huge": lambda: token("9" * 30),
    }[case]()
    assert_unauthorized(await client.get(ME, headers=bearer(crafted)))


async def test_a_token_accepted_before_is_refused_once_it_expires(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The process keeps the tokens it has verified; that never outlives their expiry."""
    user = await register(client, "alice")
    sid, _ = await live_session(client, "alice")
    now = int(time.time())
    token = craft_token(user["id"], sid=sid, iss=settings.APP_NAME, iat=now, exp=now + 2)
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    await asyncio.sleep(now + 2.1 - time.time())
    assert_unauthorized(await client.get(ME, headers=bearer(token)))
    # An access token verified once is still refused where a refresh token is expected.
    fresh = craft_token(user["id"], sid=sid, iss=settings.APP_NAME)
    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200
    assert_unauthorized(await client.post(REFRESH, headers=cookie_header(fresh)))


async def test_revoked_access_token_is_401(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await login(client, "alice")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    assert (await client.post(LOGOUT, headers=bearer(token))).status_code == 200
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


# --- logout ---------------------------------------------------------------------------------


async def test_logout_revokes_both_tokens_and_clears_the_cookie(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")

    response = await client.post(LOGOUT, headers=bearer(access))  # cookie from the jar
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Logged out successfully"}
    cleared = refresh_set_cookie(response)
    assert cleared.value == ""
    assert cleared.attrs.get("max-age") == "0"
    assert cleared.attrs.get("path") == "/api/v1"
    assert client.cookies.get(COOKIE) is None

    assert_unauthorized(await client.get(ME, headers=bearer(access)))
    async with bare_client(app) as bare:
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))

    # A fresh login still works: logout revoked tokens, not the account.
    await login(client, "alice")


async def test_logout_with_only_the_refresh_cookie(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The refresh token's session ends: its access tokens stop working too."""
    await register(client, "alice")
    session_access, refresh = await login_pair(client, "alice")
    access = await login(client, "alice")  # another session, untouched by the logout
    async with bare_client(app) as bare:
        response = await bare.post(LOGOUT, headers=cookie_header(refresh))
        assert response.status_code == 200, response.text
        assert refresh_set_cookie(response).attrs.get("max-age") == "0"
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))
        assert_unauthorized(await bare.get(ME, headers=bearer(session_access)))
    assert (await client.get(ME, headers=bearer(access))).status_code == 200


async def test_logout_with_only_the_access_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The access token's session ends: its refresh token stops working too (a client that
    lost its cookie can still sign out for good)."""
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")
    other_access, other_refresh = await login_pair(client, "alice")
    async with bare_client(app) as bare:
        response = await bare.post(LOGOUT, headers=bearer(access))
        assert response.status_code == 200, response.text
        assert_unauthorized(await bare.get(ME, headers=bearer(access)))
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))
        # The user's other session goes on.
        assert (await bare.get(ME, headers=bearer(other_access))).status_code == 200
        assert (await bare.post(REFRESH, headers=cookie_header(other_refresh))).status_code == 200


async def test_logout_with_tokens_of_two_sessions_ends_both(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "alice")
    access_one, refresh_one = await login_pair(client, "alice")
    access_two, refresh_two = await login_pair(client, "alice")
    access_three = await login(client, "alice")
    async with bare_client(app) as bare:
        response = await bare.post(
            LOGOUT, headers={**bearer(access_one), **cookie_header(refresh_two)}
        )
        assert response.status_code == 200, response.text
        for access in (access_one, access_two):
            assert_unauthorized(await bare.get(ME, headers=bearer(access)))
        for refresh in (refresh_one, refresh_two):
            assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))
        assert (await bare.get(ME, headers=bearer(access_three))).status_code == 200


async def test_logout_with_a_spent_refresh_token_is_401(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Only a session's newest refresh token can end it: a spent one is nothing usable."""
    await register(client, "alice")
    _, spent = await login_pair(client, "alice")
    async with bare_client(app) as bare:
        assert (await bare.post(REFRESH, headers=cookie_header(spent))).status_code == 200
        assert_unauthorized(await bare.post(LOGOUT, headers=cookie_header(spent)))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc", "Cookie": f"{COOKIE}=a.b.c"},
        {"Authorization": "Bearer " + craft_token(1, sid=1, key="another-secret-" + "y" * 32)},
    ],
    ids=["nothing", "garbage", "wrong-signature"],
)
async def test_logout_with_nothing_valid_is_401(app: FastAPI, headers: dict[str, str]) -> None:
    async with bare_client(app) as bare:
        response = await bare.post(LOGOUT, headers=headers)
        assert_unauthorized(response)


async def test_logout_with_swapped_tokens_is_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    """A refresh token as the Bearer and an access token as the cookie are both refused."""
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")
    async with bare_client(app) as bare:
        response = await bare.post(LOGOUT, headers={**bearer(refresh), **cookie_header(access)})
        assert_unauthorized(response)
        # Neither was revoked by the refused logout.
        assert (await bare.get(ME, headers=bearer(access))).status_code == 200
        assert (await bare.post(REFRESH, headers=cookie_header(refresh))).status_code == 200


# --- more than one app process --------------------------------------------------------------


async def test_logout_holds_in_every_app_process(
    app: FastAPI, client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")
    async with app_client() as other:
        assert (await other.get(ME, headers=bearer(access))).status_code == 200

        response = await other.post(LOGOUT, headers={**bearer(access), **cookie_header(refresh)})
        assert response.status_code == 200, response.text

        assert_unauthorized(await client.get(ME, headers=bearer(access)))
        async with bare_client(app) as bare:
            assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))


async def test_spent_refresh_token_is_refused_by_another_process(
    app: FastAPI, client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    await register(client, "alice")
    _, refresh = await login_pair(client, "alice")
    async with bare_client(app) as bare:
        assert (await bare.post(REFRESH, headers=cookie_header(refresh))).status_code == 200
    async with app_client() as other:  # (its cookie jar is never used)
        assert_unauthorized(await other.post(REFRESH, headers=cookie_header(refresh)))


# --- deleted users --------------------------------------------------------------------------


async def test_tokens_of_a_soft_deleted_user_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")
    deleted = await client.delete("/api/v1/user/alice", headers=bearer(access))
    assert deleted.status_code == 204, deleted.text

    assert_unauthorized(await client.get(ME, headers=bearer(access)))
    async with bare_client(app) as bare:
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))
    assert_unauthorized(await login_response(client, "alice"))


async def test_tokens_of_a_hard_deleted_user_are_refused(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")

    deleted = await client.delete("/api/v1/db_user/alice", headers=superuser_headers)
    assert deleted.status_code == 204, deleted.text

    assert_unauthorized(await client.get(ME, headers=bearer(access)))
    async with bare_client(app) as bare:
        assert_unauthorized(await bare.post(REFRESH, headers=cookie_header(refresh)))
    assert_unauthorized(await login_response(client, "alice"))


async def test_logout_with_only_revoked_tokens_is_401(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Tokens already logged out are no longer valid: a second logout with them is refused."""
    await register(client, "alice")
    access, refresh = await login_pair(client, "alice")
    both = {**bearer(access), **cookie_header(refresh)}
    async with bare_client(app) as bare:
        assert (await bare.post(LOGOUT, headers=both)).status_code == 200
        assert_unauthorized(await bare.post(LOGOUT, headers=both))
