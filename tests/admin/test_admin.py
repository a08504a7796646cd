"""The admin panel over HTTP, in-process, on the run's PostgreSQL database and Redis: who may
sign in (holders of admin.access; the same throttling as POST /login), its cookie, its origin
check, when it is served at all, and the users' view keeping the API's rules: a user deleted
from the panel is deleted exactly as through the API, their sessions ended. The other domains'
views, and how those domains react to a user deleted from the panel (keys revoked, cached pages
forgotten), are tested with each domain (tests/posts/test_posts_admin.py, ...)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import BadSignature, TimestampSigner

from app.admin.auth import COOKIE, NOT_ALLOWED, session_secret
from app.admin.guard import REFUSED
from app.core.config import Settings
from app.domains import DOMAINS
from tests.helpers.admin import (
    FROM_PANEL,
    ORIGIN,
    SAME_ORIGIN,
    admin_sign_in,
    signed_in_admin,
    user_id,
)
from tests.helpers.database import execute, query
from tests.helpers.http import (
    API,
    SUPERUSER,
    AppClientFactory,
    Headers,
    assert_unauthorized,
    bearer,
    client_for,
    error_detail,
    login,
    login_response,
    register,
    sign_up,
)
from tests.helpers.roles import grant_new_role
from tests.helpers.settings import PASSWORD, TEST_SECRET_KEY

# What staging and production require (mail off, so no SMTP server is needed).
STRONG = {
    "SECRET_KEY": TEST_SECRET_KEY,
    "ADMIN_PASSWORD": "Another-admin-pass-9",
    "EMAIL_VERIFICATION_ENABLED": False,
    "PASSWORD_RESET_ENABLED": False,
}


# --- helpers ------------------------------------------------------------------------------


def login_error(response: httpx.Response) -> str:
    """The message the login page shows."""
    found = re.search(r'id="login-error">([^<]*)<', response.text)
    assert found, response.text
    return found.group(1)


# --- signing in ----------------------------------------------------------------------------


async def test_a_holder_of_admin_access_signs_in_and_sees_the_users(
    client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    await register(client, "boss")
    await register(client, "carol", email="carol@example.com")
    await grant_new_role(client, superuser_headers, "boss", "admins", "admin.access")

    response = await admin_sign_in(client, "BOSS@example.com")  # an email works too
    assert response.status_code == 302, response.text
    rows = await query(
        database_url,
        "SELECT count(*) FROM auth_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = 'boss' AND s.revoked_at IS NULL",
    )
    assert rows[0][0] == 1  # a real session, which "end all sessions" ends too

    page = await client.get("/admin/user/list")
    assert page.status_code == 200, page.text
    assert "carol@example.com" in page.text
    assert "boss" in page.text
    assert "hashed_password" not in page.text
    assert "$argon2" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    searched = await client.get("/admin/user/list", params={"search": "carol"})
    assert "carol@example.com" in searched.text
    assert "boss@example.com" not in searched.text
    details = await client.get(f"/admin/user/details/{await user_id(database_url, 'carol')}")
    assert details.status_code == 200
    assert "$argon2" not in details.text


async def test_a_user_without_admin_access_is_refused(client: httpx.AsyncClient) -> None:
    await register(client, "plain")
    response = await admin_sign_in(client, "plain")
    assert response.status_code == 403
    assert login_error(response) == NOT_ALLOWED
    assert COOKIE not in client.cookies
    after = await client.get("/admin/")
    assert after.status_code == 302
    assert after.headers["location"].endswith("/admin/login")


async def test_wrong_passwords_are_refused_then_throttled_like_login(
    app_client: AppClientFactory,
) -> None:
    async with app_client(LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=3) as client:
        await register(client, "target")
        for _ in range(3):
            wrong = await admin_sign_in(client, "target", "wrong-password-1")
            assert wrong.status_code == 400
            assert login_error(wrong) == "Incorrect username or password"
        throttled = await admin_sign_in(client, "target")  # even the right password now
        assert throttled.status_code == 429
        assert login_error(throttled).startswith("Too many sign-in attempts: try again in ")
        assert int(throttled.headers["retry-after"]) > 0
        # One budget for the account, whichever door is knocked on.
        error_detail(await login_response(client, "target"), 429)


async def test_sign_ins_count_against_the_client_ip_budget_of_login(
    app_client: AppClientFactory,
) -> None:
    async with app_client(LOGIN_RATE_LIMIT_LIMIT=2) as client:
        await register(client, "other")
        for _ in range(2):
            assert (await admin_sign_in(client, "nobody", "x")).status_code == 400
        assert (await admin_sign_in(client, "other")).status_code == 429


async def test_the_cookie_is_httponly_strict_under_admin_and_signed_with_its_own_key(
    client: httpx.AsyncClient, database_url: str, settings: Settings
) -> None:
    await signed_in_admin(client, database_url, "root")
    cookie = client.cookies[COOKIE]
    TimestampSigner(session_secret(settings)).unsign(cookie)
    with pytest.raises(BadSignature):
        TimestampSigner(TEST_SECRET_KEY).unsign(cookie)

    response = await admin_sign_in(client, "root")
    header = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in header.lower()
    assert "path=/admin;" in header.lower() + ";"
    assert "secure" not in attributes  # local runs on plain http


async def test_the_cookie_is_secure_outside_local(
    app_client: AppClientFactory, database_url: str
) -> None:
    async with app_client(ENVIRONMENT="staging", **STRONG) as client:
        await register(client, "root")
        await execute(database_url, "UPDATE users SET is_superuser = true")
        response = await admin_sign_in(client, "root")
        assert response.status_code == 302, response.text
        header = response.headers["set-cookie"].lower()
        assert "secure" in header
        assert "samesite=strict" in header
        assert "httponly" in header


# --- cross-site request forgery --------------------------------------------------------------


async def test_writes_from_another_origin_are_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await signed_in_admin(client, database_url, "root")
    await register(client, "victim")
    victim = await user_id(database_url, "victim")
    action = f"/admin/user/action/soft-delete?pks={victim}"

    for headers in (
        {},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://test:8080"},
        {"Referer": "http://evil.example/admin/"},
        {"Origin": "http://evil.example", "Referer": f"{ORIGIN}/admin/"},
    ):
        refused = await client.post("/admin/login", data={"username": "root"}, headers=headers)
        assert error_detail(refused, 403) == REFUSED, headers
        # SQLAdmin's actions are links: a GET that changes something is checked too.
        assert (await client.get(action, headers=headers)).status_code == 403, headers
    assert (await client.get(f"{API}/user/victim")).status_code == 200

    done = await client.get(action, headers=FROM_PANEL)
    assert done.status_code == 302, done.text
    assert (await client.get(f"{API}/user/victim")).status_code == 404


# --- when it is served -----------------------------------------------------------------------


async def test_production_serves_no_panel_unless_asked(app_client: AppClientFactory) -> None:
    async with app_client(ENVIRONMENT="production", **STRONG) as client:
        error_detail(await client.get("/admin/"), 404)
        error_detail(await client.get("/admin/login"), 404)
    async with app_client(ENVIRONMENT="production", ADMIN_PANEL_ENABLED=True, **STRONG) as client:
        page = await client.get("/admin/login")
        assert page.status_code == 200
        assert "Username or email" in page.text
    async with app_client(ADMIN_PANEL_ENABLED=False) as client:
        error_detail(await client.get("/admin/login"), 404)


async def test_the_panel_shows_the_views_every_domain_declares(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await signed_in_admin(client, database_url, "root")
    declared = [(domain.name, view) for domain in DOMAINS for view in domain.admin_views]
    assert {name for name, _ in declared} >= {"users"}
    index = await client.get("/admin/")
    for name, view in declared:
        listed = await client.get(f"/admin/{view.identity}/list")
        assert listed.status_code == 200, (name, view.identity)
        assert f"/admin/{view.identity}/list" in index.text, (name, view.identity)
    assert (await client.get("/admin/no-such-view/list")).status_code == 404


def test_the_panel_is_not_in_the_openapi_schema(app: FastAPI) -> None:
    assert not [path for path in app.openapi()["paths"] if path.startswith("/admin")]


# --- sessions --------------------------------------------------------------------------------


async def test_logout_and_ended_sessions_end_the_panel_session(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await signed_in_admin(client, database_url, "root")
    kept = client.cookies[COOKIE]
    assert (await client.get("/admin/")).status_code == 200
    out = await client.get("/admin/logout")
    assert out.status_code == 302
    assert out.headers["location"].endswith("/admin/login")
    # The old cookie, replayed, no longer works: its session row is revoked.
    async with client_for(app) as replay:
        replay.cookies.set(COOKIE, kept)
        assert (await replay.get("/admin/")).status_code == 302

    # "End my other sessions" from the API ends the panel's session too.
    assert (await admin_sign_in(client, "root")).status_code == 302
    token = await login(client, "root")
    ended = await client.delete(f"{API}/user/me/sessions", headers=bearer(token))
    assert ended.status_code in (200, 204), ended.text
    assert (await client.get("/admin/")).status_code == 302


# --- the users' view keeps the API's rules ------------------------------------------------


async def test_soft_delete_and_restore_a_user(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    alice = await sign_up(client, "alice")
    alice_id = await user_id(database_url, "alice")
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        deleted = await panel.get(
            f"/admin/user/action/soft-delete?pks={alice_id}", headers=FROM_PANEL
        )
        assert deleted.status_code == 302
        assert_unauthorized(await client.get(f"{API}/user/me/", headers=alice))
        error_detail(await client.get(f"{API}/user/alice"), 404)
        assert (await panel.get("/admin/user/delete?pks=1")).status_code == 405

        restored = await panel.get(f"/admin/user/action/restore?pks={alice_id}", headers=FROM_PANEL)
        assert restored.status_code == 302
    assert (await client.get(f"{API}/user/alice")).status_code == 200
    # Deleting ended the sessions: a restore does not bring the old tokens back.
    assert_unauthorized(await client.get(f"{API}/user/me/", headers=alice))
    assert await login(client, "alice")


async def test_a_refused_action_shows_its_refusal(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    """An admin who is no superuser may not soft-delete a superuser: the panel says so with a
    403 page, and the superuser is untouched."""
    await register(client, "boss")
    await grant_new_role(client, superuser_headers, "boss", "admins", "admin.access")
    root = await user_id(database_url, SUPERUSER)
    async with client_for(app) as panel:
        assert (await admin_sign_in(panel, "boss")).status_code == 302
        refused = await panel.get(f"/admin/user/action/soft-delete?pks={root}", headers=FROM_PANEL)
        assert refused.status_code == 403, refused.text
        assert "Only a superuser may delete or restore a superuser" in refused.text
        assert (await panel.get("/admin/user/list")).status_code == 200
        # Nor change one: a new email would let them reset the superuser's password.
        form = {"name": "Root", "username": SUPERUSER, "email": "mine@example.com"}
        changed = await panel.post(
            f"/admin/user/edit/{root}", data={**form, "save": "Save"}, headers=SAME_ORIGIN
        )
        assert changed.status_code == 400
        assert "Only a superuser may change a superuser" in changed.text
    me = await client.get(f"{API}/user/me/", headers=superuser_headers)
    assert me.status_code == 200


async def test_user_edits_keep_the_api_rules(client: httpx.AsyncClient, database_url: str) -> None:
    await register(client, "author")
    await signed_in_admin(client, database_url, "root")
    edit = f"/admin/user/edit/{await user_id(database_url, 'author')}"
    form = {"name": "Author", "username": "author", "email": "author@example.com"}

    # A value the API's schema refuses is refused with its reason.
    refused = await client.post(
        edit, data={**form, "username": "Not Valid", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert refused.status_code == 400
    assert "username: String should match pattern" in refused.text
    # No word of the API's paths either; a reserved name (`admin`) is the operator's choice.
    path_word = await client.post(
        edit, data={**form, "username": "roles", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert path_word.status_code == 400
    assert "username: This username is reserved: it is a path of the API" in path_word.text
    # A taken email is refused as PATCH /user/{username} refuses it.
    taken = await client.post(
        edit, data={**form, "email": "root@example.com", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert taken.status_code == 400
    assert "Email is already registered" in taken.text

    renamed = await client.post(
        edit,
        data={**form, "username": "admin", "name": "New Name", "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert renamed.status_code == 302, renamed.text
    assert (await client.get(f"{API}/user/admin")).json()["name"] == "New Name"
    error_detail(await client.get(f"{API}/user/author"), 404)
    back = await client.post(edit, data={**form, "save": "Save"}, headers=SAME_ORIGIN)
    assert back.status_code == 302, back.text
    assert (await client.get(f"{API}/user/author")).status_code == 200


async def _live_sessions(database_url: str, username: str) -> int:
    rows = await query(
        database_url,
        "SELECT count(*) FROM auth_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = :u AND s.revoked_at IS NULL",
        u=username,
    )
    count: int = rows[0][0]
    return count


async def test_a_user_deleted_in_the_panel_is_deleted_as_through_the_api(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    """Both call users.service, which publishes UserDeleted: auth ends every session of the
    account in the deletion's transaction. Its tokens stop working either way; ending the
    sessions is what keeps a restored account from getting them back, so it signs in anew."""
    tokens: dict[str, list[dict[str, str]]] = {}
    for username in ("byself", "bypanel"):
        await register(client, username)
        tokens[username] = []
        for _ in range(2):
            response = await client.post(
                f"{API}/login",
                params={"token_delivery": "body"},
                data={"username": username, "password": PASSWORD},
            )
            assert response.status_code == 200, response.text
            tokens[username].append(response.json())
        assert await _live_sessions(database_url, username) == 2

    own = bearer(tokens["byself"][0]["access_token"])
    assert (await client.delete(f"{API}/user/byself", headers=own)).status_code == 204
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        ids = [await user_id(database_url, name) for name in ("byself", "bypanel")]
        deleted = await panel.get(
            f"/admin/user/action/soft-delete?pks={ids[1]}", headers=FROM_PANEL
        )
        assert deleted.status_code == 302, deleted.text
        for username in tokens:
            assert await _live_sessions(database_url, username) == 0, username
        restored = await panel.get(
            f"/admin/user/action/restore?pks={ids[0]},{ids[1]}", headers=FROM_PANEL
        )
        assert restored.status_code == 302, restored.text

    for username, pairs in tokens.items():
        assert (await client.get(f"{API}/user/{username}")).status_code == 200
        for pair in pairs:
            me = await client.get(f"{API}/user/me/", headers=bearer(pair["access_token"]))
            assert_unauthorized(me)
            refreshed = await client.post(
                f"{API}/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            assert_unauthorized(refreshed)
        assert await login(client, username)
