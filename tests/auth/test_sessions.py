"""Sessions over HTTP: one login is one session (a refresh-token family) that its owner can
list and end; a refresh token presented a second time ends its whole session (reuse
detection); refresh tokens delivered in the body; changing the password.

Every test runs against the real PostgreSQL database of the run; a second app instance on the
same database stands in for a second server process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.helpers.database import execute, query
from tests.helpers.http import (
    API,
    AppClientFactory,
    assert_unauthorized,
    bearer,
    client_for,
    error_detail,
    login_response,
    parse_time,
    register,
)
from tests.helpers.settings import PASSWORD

LOGIN = f"{API}/login"
REFRESH = f"{API}/refresh"
LOGOUT = f"{API}/logout"
ME = f"{API}/user/me/"
SESSIONS = f"{API}/user/me/sessions"
CHANGE_PASSWORD = f"{API}/user/me/password"
NEW_PASSWORD = "battery-staple-2"
SESSION_FIELDS = {"id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"}
REUSE_LOGGER = "app.auth"


# --- helpers ------------------------------------------------------------------------------


class Tokens(NamedTuple):
    """What a login with body delivery hands out."""

    access: str
    refresh: str
    sid: int


def claims_of(token: str) -> dict[str, Any]:
    """A token's claims, read without checking its signature."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def tokens_from(response: httpx.Response) -> Tokens:
    """The pair a login or refresh with body delivery answered with."""
    assert response.status_code == 200, response.text
    body = response.json()
    return Tokens(
        body["access_token"], body["refresh_token"], claims_of(body["access_token"])["sid"]
    )


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def sign_in(
    client: httpx.AsyncClient,
    username: str,
    password: str = PASSWORD,
    *,
    user_agent: str | None = None,
) -> Tokens:
    """Log in with `?token_delivery=body`: a new session, its tokens from the body."""
    headers = {"User-Agent": user_agent} if user_agent is not None else {}
    response = await client.post(
        LOGIN,
        params={"token_delivery": "body"},
        data={"username": username, "password": password},
        headers=headers,
    )
    return tokens_from(response)


async def refresh_in_body(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


async def refreshed(client: httpx.AsyncClient, refresh_token: str) -> Tokens:
    """A successful refresh through the body: the new pair."""
    return tokens_from(await refresh_in_body(client, refresh_token))


async def expire(database_url: str, session_id: int) -> None:
    """Move a session's expiry into the past, as time would."""
    await execute(
        database_url,
        "UPDATE auth_sessions SET expires_at = now() - interval '1 minute' WHERE id = :id",
        id=session_id,
    )


async def sessions_of(client: httpx.AsyncClient, access: str) -> list[dict[str, Any]]:
    response = await client.get(SESSIONS, headers=bearer(access))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()
    return data


async def assert_session_works(client: httpx.AsyncClient, tokens: Tokens) -> Tokens:
    """Its access token is accepted and its refresh token refreshes: the new pair."""
    me = await client.get(ME, headers=bearer(tokens.access))
    assert me.status_code == 200, me.text
    return await refreshed(client, tokens.refresh)


async def assert_session_ended(client: httpx.AsyncClient, *tokens: Tokens) -> None:
    """Neither the access tokens nor the refresh tokens of `tokens` are accepted."""
    for pair in tokens:
        assert_unauthorized(await client.get(ME, headers=bearer(pair.access)))
        assert_unauthorized(await refresh_in_body(client, pair.refresh))


async def user_id(database_url: str, username: str) -> int:
    value: int = await execute(database_url, "SELECT id FROM users WHERE username = :u", u=username)
    return value


# --- listing ----------------------------------------------------------------------------


async def test_each_login_is_a_session_listed_with_where_it_was_used(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "alice")
    await register(client, "bob")
    await sign_in(client, "bob")  # someone else's session: never listed for alice
    async with (
        client_for(app, peer=("198.51.100.7", 5000)) as phone,
        client_for(app, peer=("203.0.113.9", 6000)) as laptop,
    ):
        before = datetime.now(UTC)
        first = await sign_in(phone, "alice", user_agent="Phone/1.0")
        second = await sign_in(laptop, "alice", user_agent="Laptop/2.0")
        assert first.sid != second.sid

        listed = await sessions_of(laptop, second.access)
        for row in listed:
            assert set(row) == SESSION_FIELDS, row
        # Most recently used first.
        assert [row["id"] for row in listed] == [second.sid, first.sid]
        assert [row["current"] for row in listed] == [True, False]
        assert [(row["ip"], row["user_agent"]) for row in listed] == [
            ("203.0.113.9", "Laptop/2.0"),
            ("198.51.100.7", "Phone/1.0"),
        ]
        lifetime = timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS)
        for row in listed:
            created = parse_time(row["created_at"])
            assert before - timedelta(seconds=5) <= created <= datetime.now(UTC)
            assert parse_time(row["last_used_at"]) >= created
            expires = parse_time(row["expires_at"])
            assert abs(expires - (created + lifetime)) < timedelta(seconds=5), row

        # Seen from the other session, the other one is current.
        from_phone = await sessions_of(phone, first.access)
        assert [(row["id"], row["current"]) for row in from_phone] == [
            (second.sid, False),
            (first.sid, True),
        ]

        # A refresh is a use: the session moves to the top, with where it was used from.
        async with client_for(app, peer=("192.0.2.44", 7000)) as train:
            response = await train.post(
                REFRESH,
                json={"refresh_token": first.refresh},
                headers={"User-Agent": "Phone/1.1"},
            )
            assert response.status_code == 200, response.text
        listed = await sessions_of(laptop, second.access)
        assert [row["id"] for row in listed] == [first.sid, second.sid]
        top = listed[0]
        assert (top["ip"], top["user_agent"]) == ("192.0.2.44", "Phone/1.1")
        assert parse_time(top["last_used_at"]) > parse_time(top["created_at"])
        assert parse_time(top["last_used_at"]) >= parse_time(listed[1]["last_used_at"])


async def test_a_login_without_a_user_agent_lists_none(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    response = await client.post(
        LOGIN,
        params={"token_delivery": "body"},
        data={"username": "alice", "password": PASSWORD},
        headers={"User-Agent": ""},
    )
    assert response.status_code == 200, response.text
    (row,) = await sessions_of(client, response.json()["access_token"])
    assert row["user_agent"] is None
    assert row["ip"] == "127.0.0.1"


async def test_a_long_user_agent_is_cut_not_refused(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    tokens = await sign_in(client, "alice", user_agent="Agent/" + "x" * 1000)
    (row,) = await sessions_of(client, tokens.access)
    assert row["user_agent"].startswith("Agent/xxx")
    assert len(row["user_agent"]) <= 255


async def test_ended_and_expired_sessions_are_not_listed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "alice")
    ended = await sign_in(client, "alice")
    expired = await sign_in(client, "alice")
    current = await sign_in(client, "alice")
    assert (await client.post(LOGOUT, headers=bearer(ended.access))).status_code == 200
    await expire(database_url, expired.sid)

    assert [row["id"] for row in await sessions_of(client, current.access)] == [current.sid]
    # An expired session's refresh token is refused.
    assert_unauthorized(await refresh_in_body(client, expired.refresh))


async def test_sessions_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get(SESSIONS))
    assert_unauthorized(await client.delete(SESSIONS))
    assert_unauthorized(await client.delete(f"{SESSIONS}/1"))
    assert_unauthorized(await client.get(SESSIONS, headers=bearer("not-a-token")))


async def test_a_refresh_token_is_not_an_access_token_for_sessions(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")
    tokens = await sign_in(client, "alice")
    assert_unauthorized(await client.get(SESSIONS, headers=bearer(tokens.refresh)))
    assert_unauthorized(await client.delete(SESSIONS, headers=bearer(tokens.refresh)))


# --- ending sessions ------------------------------------------------------------------------


async def test_ending_a_session_refuses_its_tokens_only(
    app: FastAPI, client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    await register(client, "alice")
    doomed = await sign_in(client, "alice")
    kept = await sign_in(client, "alice")

    response = await client.delete(f"{SESSIONS}/{doomed.sid}", headers=bearer(kept.access))
    assert response.status_code == 204, response.text
    assert response.content == b""

    await assert_session_ended(client, doomed)
    async with app_client() as other:  # ended in every process
        await assert_session_ended(other, doomed)
    kept = await assert_session_works(client, kept)
    assert [row["id"] for row in await sessions_of(client, kept.access)] == [kept.sid]

    # Ended is ended: a second time it is not found.
    again = await client.delete(f"{SESSIONS}/{doomed.sid}", headers=bearer(kept.access))
    assert error_detail(again, 404) == "Session not found"


async def test_ending_the_current_session_is_a_logout(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    tokens = await sign_in(client, "alice")
    other = await sign_in(client, "alice")

    response = await client.delete(f"{SESSIONS}/{tokens.sid}", headers=bearer(tokens.access))
    assert response.status_code == 204, response.text

    await assert_session_ended(client, tokens)
    await assert_session_works(client, other)


async def test_ending_every_other_session_keeps_the_current_one(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")
    await register(client, "bob")
    others = [await sign_in(client, "alice") for _ in range(2)]
    bobs = await sign_in(client, "bob")
    current = await sign_in(client, "alice")

    response = await client.delete(SESSIONS, headers=bearer(current.access))
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Ended 2 other sessions"}

    await assert_session_ended(client, *others)
    current = await assert_session_works(client, current)
    listed = await sessions_of(client, current.access)
    assert [(row["id"], row["current"]) for row in listed] == [(current.sid, True)]
    # Another user's sessions are not the caller's to end.
    await assert_session_works(client, bobs)

    again = await client.delete(SESSIONS, headers=bearer(current.access))
    assert again.status_code == 200, again.text
    assert again.json() == {"message": "Ended 0 other sessions"}
    await assert_session_works(client, current)

    one_more = await sign_in(client, "alice")
    last = await client.delete(SESSIONS, headers=bearer(current.access))
    assert last.json() == {"message": "Ended 1 other session"}, last.text
    await assert_session_ended(client, one_more)


async def test_someone_elses_session_is_not_found(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    await register(client, "bob")
    alice = await sign_in(client, "alice")
    bob = await sign_in(client, "bob")

    for session_id in (bob.sid, bob.sid + 1000, 2**31 - 1):
        response = await client.delete(f"{SESSIONS}/{session_id}", headers=bearer(alice.access))
        assert error_detail(response, 404) == "Session not found"

    # Bob's session is untouched, and as unknown to alice as one that does not exist.
    await assert_session_works(client, bob)
    await assert_session_works(client, alice)


@pytest.mark.parametrize("session_id", ["abc", "1.5", "0", "-1", str(2**31), "1e3", "%20"])
async def test_a_session_id_that_is_not_a_positive_32_bit_integer_is_422(
    client: httpx.AsyncClient, session_id: str
) -> None:
    await register(client, "alice")
    tokens = await sign_in(client, "alice")
    response = await client.delete(f"{SESSIONS}/{session_id}", headers=bearer(tokens.access))
    error_detail(response, 422)
    await assert_session_works(client, tokens)


async def test_a_new_login_beyond_the_limit_ends_the_oldest_session(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "alice")
    oldest = await sign_in(client, "alice")
    second = await sign_in(client, "alice")
    # 98 more live sessions, made beside the app: 100 in all, the most a user may hold.
    await execute(
        database_url,
        "INSERT INTO auth_sessions (user_id, refresh_jti, created_at, last_used_at, expires_at) "
        "SELECT :uid, md5(g::text), now(), now(), now() + interval '1 day' "
        "FROM generate_series(1, 98) AS g",
        uid=await user_id(database_url, "alice"),
    )
    assert len(await sessions_of(client, oldest.access)) == 100

    newest = await sign_in(client, "alice")

    await assert_session_ended(client, oldest)
    listed = await sessions_of(client, newest.access)
    assert len(listed) == 100
    assert oldest.sid not in {row["id"] for row in listed}
    await assert_session_works(client, second)


# An expired session is not live: it is not listed, and ending it is a 404 like any session that
# is not live.


async def test_an_expired_session_is_not_counted_among_the_ended_ones(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "alice")
    expired = await sign_in(client, "alice")
    other = await sign_in(client, "alice")
    current = await sign_in(client, "alice")
    await expire(database_url, expired.sid)
    listed = await sessions_of(client, current.access)
    assert [row["id"] for row in listed] == [current.sid, other.sid]

    response = await client.delete(SESSIONS, headers=bearer(current.access))

    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Ended 1 other session"}, (
        "DELETE /user/me/sessions counted sessions that had expired (not live, not listed) "
        f"among the ones it ended: {response.json()}"
    )
    await assert_session_ended(client, other)


async def test_ending_an_expired_session_is_not_found(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "alice")
    expired = await sign_in(client, "alice")
    current = await sign_in(client, "alice")
    await expire(database_url, expired.sid)
    assert expired.sid not in {row["id"] for row in await sessions_of(client, current.access)}

    response = await client.delete(f"{SESSIONS}/{expired.sid}", headers=bearer(current.access))

    assert response.status_code == 404, (
        "DELETE /user/me/sessions/{id} of an expired (not live, not listed) session "
        f"answers {response.status_code}, not 404 Session not found"
    )


# --- refresh-token reuse --------------------------------------------------------------------


async def test_reused_refresh_token_ends_the_whole_session(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await register(client, "alice")
    uid = await user_id(database_url, "alice")
    bystander = await sign_in(client, "alice")  # another session of the same user
    caplog.set_level(logging.INFO)
    a = await sign_in(client, "alice")
    b = await refreshed(client, a.refresh)  # A -> B: A is spent
    assert b.sid == a.sid
    assert b.refresh != a.refresh

    async with client_for(app, peer=("203.0.113.66", 4444)) as attacker:
        reused = await refresh_in_body(attacker, a.refresh)
    assert_unauthorized(reused)
    assert reused.json()["detail"] == "Invalid or expired refresh token"
    assert not set_cookies(reused)

    # The legitimate holder's newest token, and every access token of the session, are dead.
    await assert_session_ended(client, a, b)
    # Not the user's other session.
    bystander = await assert_session_works(client, bystander)
    assert a.sid not in {row["id"] for row in await sessions_of(client, bystander.access)}

    warnings = [r for r in caplog.records if r.name == REUSE_LOGGER and "reuse" in r.message]
    assert len(warnings) == 1, caplog.text
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].getMessage() == (
        f"refresh token reuse: session {a.sid} of user {uid} ended "
        "(token presented from 203.0.113.66)"
    )
    for token in (a.access, a.refresh, b.access, b.refresh):
        assert token not in caplog.text
        assert token.split(".")[2] not in caplog.text  # not even its signature


async def test_reuse_after_the_session_ended_is_logged_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The session ends at the first reuse; presenting spent tokens again is only a 401."""
    await register(client, "alice")
    caplog.set_level(logging.WARNING, logger=REUSE_LOGGER)
    a = await sign_in(client, "alice")
    b = await refreshed(client, a.refresh)
    for token in (a.refresh, a.refresh, b.refresh):
        assert_unauthorized(await refresh_in_body(client, token))
    warnings = [r for r in caplog.records if r.name == REUSE_LOGGER]
    assert len(warnings) == 1, caplog.text


async def test_a_logged_out_sessions_refresh_token_is_not_reuse(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await register(client, "alice")
    caplog.set_level(logging.WARNING, logger=REUSE_LOGGER)
    tokens = await sign_in(client, "alice")
    assert (await client.post(LOGOUT, headers=bearer(tokens.access))).status_code == 200
    assert_unauthorized(await refresh_in_body(client, tokens.refresh))
    assert not [r for r in caplog.records if r.name == REUSE_LOGGER], caplog.text


async def test_reuse_is_detected_across_app_instances(
    client: httpx.AsyncClient, app_client: AppClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await register(client, "alice")
    caplog.set_level(logging.WARNING, logger=REUSE_LOGGER)
    a = await sign_in(client, "alice")
    async with app_client() as other:
        b = await refreshed(other, a.refresh)  # rotated on the other instance
        assert (await client.get(ME, headers=bearer(b.access))).status_code == 200

        assert_unauthorized(await refresh_in_body(client, a.refresh))  # reused on this one

        for instance in (client, other):
            await assert_session_ended(instance, a, b)
    assert len([r for r in caplog.records if r.name == REUSE_LOGGER]) == 1, caplog.text


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(
    client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    """Two instances, two requests each, one token: one new pair, never a 500."""
    await register(client, "alice")
    async with app_client() as other:
        for _ in range(3):
            tokens = await sign_in(client, "alice")
            responses = await asyncio.gather(
                *(refresh_in_body(c, tokens.refresh) for c in (client, other, client, other))
            )
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200, 401, 401, 401], [r.text for r in responses]
            for response in responses:
                if response.status_code == 401:
                    assert_unauthorized(response)


# --- body delivery --------------------------------------------------------------------------


async def test_body_delivery_end_to_end(client: httpx.AsyncClient, settings: Settings) -> None:
    await register(client, "alice")
    response = await client.post(
        LOGIN,
        params={"token_delivery": "body"},
        data={"username": "alice", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert not set_cookies(response)
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    first = tokens_from(response)
    refresh_claims = claims_of(first.refresh)
    assert refresh_claims["type"] == "refresh"
    assert refresh_claims["sid"] == first.sid
    assert not client.cookies  # nothing landed in the jar

    rotated = await refresh_in_body(client, first.refresh)
    assert rotated.status_code == 200, rotated.text
    assert not set_cookies(rotated)
    assert set(rotated.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
    second = tokens_from(rotated)
    assert second.refresh != first.refresh
    assert second.access != first.access
    assert second.sid == claims_of(second.refresh)["sid"] == first.sid
    me = await client.get(ME, headers=bearer(second.access))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"

    # The spent one, presented again, ends the family.
    assert_unauthorized(await refresh_in_body(client, first.refresh))
    await assert_session_ended(client, first, second)


async def test_a_cookie_session_can_refresh_through_the_body(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The refresh token answers the way it came: sent in the body, the new one is in the
    body (and no cookie is set)."""
    await register(client, "alice")
    login = await login_response(client, "alice")
    assert login.status_code == 200, login.text
    assert "refresh_token" not in login.json()
    cookie = client.cookies.get("refresh_token")
    assert cookie
    async with client_for(app) as bare:
        rotated = await refresh_in_body(bare, cookie)
        assert rotated.status_code == 200, rotated.text
        assert not set_cookies(rotated)
        assert rotated.json()["refresh_token"]
        assert (await refresh_in_body(bare, rotated.json()["refresh_token"])).status_code == 200


async def test_an_unknown_token_delivery_is_422(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    response = await client.post(
        LOGIN,
        params={"token_delivery": "carrier-pigeon"},
        data={"username": "alice", "password": PASSWORD},
    )
    error_detail(response, 422)
    assert not set_cookies(response)


async def test_logout_with_the_refresh_token_in_the_body(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    tokens = await sign_in(client, "alice")
    other = await sign_in(client, "alice")

    response = await client.post(LOGOUT, json={"refresh_token": tokens.refresh})
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Logged out successfully"}

    await assert_session_ended(client, tokens)
    await assert_session_works(client, other)
    # Nothing usable any more: a second logout with it is refused.
    assert_unauthorized(await client.post(LOGOUT, json={"refresh_token": tokens.refresh}))


async def test_logout_with_a_spent_refresh_token_in_the_body_is_401(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")
    first = await sign_in(client, "alice")
    await refreshed(client, first.refresh)
    assert_unauthorized(await client.post(LOGOUT, json={"refresh_token": first.refresh}))


# --- bad bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [REFRESH, LOGOUT])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"refresh_token": "a" * 4097}, id="oversized"),
        pytest.param({"refresh_token": ""}, id="empty"),
        pytest.param({"refresh_token": None}, id="null"),
        pytest.param({"refresh_token": 12345}, id="number"),
        pytest.param({"refresh_token": ["a.b.c"]}, id="list"),
        pytest.param({}, id="missing"),
        pytest.param({"refresh_token": "a.b.c", "extra": 1}, id="extra-field"),
        pytest.param({"refresh_token": "a.b.c", "access_token": "x"}, id="extra-token"),
        pytest.param(["a.b.c"], id="not-an-object"),
        pytest.param("a.b.c", id="a-string"),
    ],
)
async def test_bad_refresh_body_is_422(client: httpx.AsyncClient, path: str, body: Any) -> None:
    await register(client, "alice")
    tokens = await sign_in(client, "alice")
    response = await client.post(path, json=body)
    error_detail(response, 422)
    assert not set_cookies(response)
    await assert_session_works(client, tokens)


async def test_a_user_agent_with_a_nul_character_is_not_a_500(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """PostgreSQL text cannot hold U+0000. uvicorn refuses such a header (400) before the app
    sees it, but the app served by another ASGI server, or in-process, gets it as it is."""
    await register(client, "alice")
    async with client_for(app, raise_app_exceptions=False) as raw:
        response = await raw.post(
            LOGIN,
            params={"token_delivery": "body"},
            data={"username": "alice", "password": PASSWORD},
            headers=[(b"User-Agent", b"Agent\x00/1.0")],
        )
        assert response.status_code != 500, (
            "a login whose User-Agent holds a NUL character is a 500 (PostgreSQL refuses "
            "U+0000 in the session's user_agent)"
        )
        assert response.status_code == 200, response.text
        tokens = await sign_in(raw, "alice")
        rotated = await raw.post(
            REFRESH,
            json={"refresh_token": tokens.refresh},
            headers=[(b"User-Agent", b"Agent\x00/1.0")],
        )
        assert rotated.status_code == 200, "the same on a refresh: " + rotated.text


@pytest.mark.parametrize("path", [REFRESH, LOGOUT])
async def test_malformed_json_body_is_422(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=b'{"refresh_token": ', headers={"Content-Type": "application/json"}
    )
    error_detail(response, 422)


@pytest.mark.parametrize("path", [REFRESH, LOGOUT])
async def test_a_4096_character_garbage_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    assert_unauthorized(await client.post(path, json={"refresh_token": "a" * 4096}))


# --- changing the password ------------------------------------------------------------------


async def change_password(
    client: httpx.AsyncClient, access: str, current: str, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        CHANGE_PASSWORD,
        json={"current_password": current, "new_password": new},
        headers=bearer(access),
    )


async def test_changing_the_password_ends_every_other_session(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    await register(client, "bob")
    others = [await sign_in(client, "alice") for _ in range(2)]
    bobs = await sign_in(client, "bob")
    caller = await sign_in(client, "alice")

    response = await change_password(client, caller.access, PASSWORD)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"message"}
    assert response.json()["message"]

    await assert_session_ended(client, *others)
    # The caller's session goes on: its access token, and its refresh token.
    caller = await assert_session_works(client, caller)
    listed = await sessions_of(client, caller.access)
    assert [(row["id"], row["current"]) for row in listed] == [(caller.sid, True)]
    await assert_session_works(client, bobs)

    assert_unauthorized(await login_response(client, "alice", PASSWORD))
    assert (await login_response(client, "alice", NEW_PASSWORD)).status_code == 200
    assert (await login_response(client, "bob", PASSWORD)).status_code == 200


async def test_a_wrong_current_password_is_400_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")
    other = await sign_in(client, "alice")
    caller = await sign_in(client, "alice")

    response = await change_password(client, caller.access, "wrong-password-1")
    assert error_detail(response, 400) == "Current password is incorrect"

    await assert_session_works(client, other)
    await assert_session_works(client, caller)
    assert (await login_response(client, "alice", PASSWORD)).status_code == 200
    assert_unauthorized(await login_response(client, "alice", NEW_PASSWORD))


async def test_wrong_current_passwords_count_as_failed_logins(
    client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    """One failure budget per account: a failed login and a wrong current password are two
    failures of the same budget, and over it both the login and the change are refused."""
    async with app_client(LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=2) as limited:
        await register(limited, "alice")
        caller = await sign_in(limited, "alice")

        assert_unauthorized(await login_response(limited, "alice", "wrong-password-1"))
        wrong = await change_password(limited, caller.access, "wrong-password-2")
        assert error_detail(wrong, 400) == "Current password is incorrect"

        # Over the budget: even the right password is refused, here and at the login.
        assert (await change_password(limited, caller.access, PASSWORD)).status_code == 429
        assert (await login_response(limited, "alice", PASSWORD)).status_code == 429
        # A refusal is not a sign-out.
        await assert_session_works(limited, caller)
    # Nothing was changed: the old password still logs in (where the budget is generous).
    assert (await login_response(client, "alice", PASSWORD)).status_code == 200


async def test_wrong_current_passwords_alone_reach_the_budget(
    app_client: AppClientFactory,
) -> None:
    async with app_client(LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=2) as limited:
        await register(limited, "alice")
        caller = await sign_in(limited, "alice")
        for n in range(2):
            error_detail(await change_password(limited, caller.access, f"wrong-pass-{n}"), 400)
        error_detail(await change_password(limited, caller.access, PASSWORD), 429)
        error_detail(await login_response(limited, "alice", PASSWORD), 429)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"current_password": PASSWORD, "new_password": "short1"}, id="too-short"),
        pytest.param(
            {"current_password": PASSWORD, "new_password": "no-digits-at-all"}, id="no-digit"
        ),
        pytest.param({"current_password": PASSWORD, "new_password": "123456789"}, id="no-letter"),
        pytest.param(
            {"current_password": PASSWORD, "new_password": " leading-space-1"}, id="edge-space"
        ),
        pytest.param({"current_password": PASSWORD, "new_password": "a1" * 65}, id="too-long"),
        pytest.param({"current_password": PASSWORD}, id="new-missing"),
        pytest.param({"new_password": NEW_PASSWORD}, id="current-missing"),
        pytest.param({"current_password": "", "new_password": NEW_PASSWORD}, id="current-empty"),
        pytest.param(
            {"current_password": "a" * 129, "new_password": NEW_PASSWORD}, id="current-oversized"
        ),
        pytest.param(
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "extra": True},
            id="extra-field",
        ),
        pytest.param({"current_password": PASSWORD, "new_password": None}, id="new-null"),
        pytest.param([PASSWORD, NEW_PASSWORD], id="not-an-object"),
    ],
)
async def test_bad_password_change_is_422_and_changes_nothing(
    client: httpx.AsyncClient, body: Any
) -> None:
    await register(client, "alice")
    other = await sign_in(client, "alice")
    caller = await sign_in(client, "alice")

    response = await client.post(CHANGE_PASSWORD, json=body, headers=bearer(caller.access))
    error_detail(response, 422)

    await assert_session_works(client, other)
    assert (await login_response(client, "alice", PASSWORD)).status_code == 200


async def test_changing_the_password_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_unauthorized(await client.post(CHANGE_PASSWORD, json=body))
    tokens = await sign_in(client, "alice")
    assert_unauthorized(
        await client.post(CHANGE_PASSWORD, json=body, headers=bearer(tokens.refresh))
    )
    assert (await login_response(client, "alice", PASSWORD)).status_code == 200


# --- unverified addresses -----------------------------------------------------------------


async def test_verification_is_not_required_by_default(client: httpx.AsyncClient) -> None:
    user = await register(client, "alice")
    assert user["email_verified"] is False
    await assert_session_works(client, await sign_in(client, "alice"))


async def test_sessions_are_stored_without_the_tokens(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """What the table keeps of a session is the newest refresh token's id, not a token."""
    await register(client, "alice")
    tokens = await sign_in(client, "alice")
    rows = await query(database_url, "SELECT * FROM auth_sessions")
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert tokens.refresh not in stored
    assert tokens.access not in stored
    assert claims_of(tokens.refresh)["jti"] in stored
