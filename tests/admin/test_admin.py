"""The admin panel over HTTP, in-process, on the run's PostgreSQL database and Redis: who may
sign in (holders of admin.access; the same throttling as POST /login), its cookie, its origin
check, when it is served at all, and that its changes keep the API's rules (a role's holders'
permissions change at once, a revoked key and a soft-deleted user stop working, an edited post
is not served stale from the cache)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import BadSignature, TimestampSigner

from app.admin.auth import COOKIE, NOT_ALLOWED, session_secret
from app.admin.guard import REFUSED
from app.core.config import Settings
from tests.helpers.cache import wait_out_fence
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
from tests.helpers.roles import grant_new_role, permissions_of
from tests.helpers.settings import PASSWORD, TEST_SECRET_KEY

ORIGIN = "http://test"  # the in-process clients' base URL
SAME_ORIGIN = {"Origin": ORIGIN}
FROM_PANEL = {"Referer": f"{ORIGIN}/admin/"}
# What staging and production require (mail off, so no SMTP server is needed).
STRONG = {
    "SECRET_KEY": TEST_SECRET_KEY,
    "ADMIN_PASSWORD": "Another-admin-pass-9",
    "EMAIL_VERIFICATION_ENABLED": False,
    "PASSWORD_RESET_ENABLED": False,
}


# --- helpers ------------------------------------------------------------------------------


async def admin_sign_in(
    client: httpx.AsyncClient, login_name: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/admin/login",
        data={"username": login_name, "password": password},
        headers=SAME_ORIGIN,
    )


def login_error(response: httpx.Response) -> str:
    """The message the login page shows."""
    found = re.search(r'id="login-error">([^<]*)<', response.text)
    assert found, response.text
    return found.group(1)


async def signed_in_admin(client: httpx.AsyncClient, database_url: str, username: str) -> None:
    """Register `username` as a superuser and sign them in to the panel on `client`."""
    await register(client, username)
    await execute(
        database_url, "UPDATE users SET is_superuser = true WHERE username = :u", u=username
    )
    response = await admin_sign_in(client, username)
    assert response.status_code == 302, response.text
    assert response.headers["location"].endswith("/admin/")


async def user_id(database_url: str, username: str) -> int:
    rows = await query(database_url, "SELECT id FROM users WHERE username = :u", u=username)
    found: int = rows[0][0]
    return found


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


# --- changes keep the API's rules ----------------------------------------------------------


async def test_editing_a_role_changes_its_holders_permissions_at_once(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    alice = await sign_up(client, "alice")
    role_id = await grant_new_role(
        client, superuser_headers, "alice", "editors", "posts.delete_any"
    )
    assert await permissions_of(client, alice) == ["posts.delete_any"]

    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "boss")
        edit = f"/admin/role/edit/{role_id}"
        form: dict[str, Any] = {
            "name": "editors",
            "description": "can purge",
            "permissions": ["posts.delete_any", "posts.purge"],
            "save": "Save",
        }
        saved = await panel.post(edit, data=form, headers=SAME_ORIGIN)
        assert saved.status_code == 302, saved.text
        assert await permissions_of(client, alice) == ["posts.delete_any", "posts.purge"]
        listed = await panel.get("/admin/role/list")
        assert "posts.delete_any, posts.purge" in listed.text

        unknown = await panel.post(
            edit, data={**form, "permissions": ["no.such"]}, headers=SAME_ORIGIN
        )
        assert unknown.status_code == 400
        assert await permissions_of(client, alice) == ["posts.delete_any", "posts.purge"]

    # An admin who is no superuser cannot grant what they do not hold (as with PUT /roles).
    await grant_new_role(client, superuser_headers, "alice", "panel", "admin.access")
    async with client_for(app) as panel:
        assert (await admin_sign_in(panel, "alice")).status_code == 302
        raised = await panel.post(
            f"/admin/role/edit/{role_id}",
            data={**form, "permissions": ["users.purge"]},
            headers=SAME_ORIGIN,
        )
        assert raised.status_code == 400
        assert "You do not hold these permissions" in raised.text
        # Losing admin.access ends the panel at the next request.
        taken = await client.put(
            f"{API}/user/alice/roles", json={"roles": []}, headers=superuser_headers
        )
        assert taken.status_code == 200
        assert (await panel.get("/admin/")).status_code == 302


async def test_a_revoked_api_key_stops_working(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    owner = await sign_up(client, "owner")
    created = await client.post(f"{API}/user/me/api-keys", json={"name": "ci"}, headers=owner)
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/user/me/", headers=key)).status_code == 200

    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        listed = await panel.get("/admin/api-key/list")
        assert "ci" in listed.text
        assert created.json()["prefix"] in listed.text
        rows = await query(database_url, "SELECT secret_hash FROM api_keys")
        assert rows[0][0] not in listed.text
        revoked = await panel.get(
            f"/admin/api-key/action/revoke?pks={created.json()['id']}", headers=FROM_PANEL
        )
        assert revoked.status_code == 302, revoked.text
        # No way to create, edit or delete keys from the panel.
        assert (await panel.get("/admin/api-key/create")).status_code == 403
    assert_unauthorized(await client.get(f"{API}/user/me/", headers=key))


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


async def test_editing_a_post_invalidates_its_cached_pages(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    author = await sign_up(client, "author")
    created = await client.post(
        f"{API}/author/post", json={"title": "Before", "text": "body"}, headers=author
    )
    post_id = created.json()["id"]
    await wait_out_fence()
    item, page = f"{API}/author/post/{post_id}", f"{API}/author/posts"
    for url in (item, page, item, page):
        await client.get(url)
    assert (await client.get(item)).headers.get("x-cache") == "HIT"

    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        form = {"title": "After", "text": "body", "media_url": "", "save": "Save"}
        saved = await panel.post(f"/admin/post/edit/{post_id}", data=form, headers=SAME_ORIGIN)
        assert saved.status_code == 302, saved.text
        too_long = await panel.post(
            f"/admin/post/edit/{post_id}", data={**form, "title": "x" * 31}, headers=SAME_ORIGIN
        )
        assert too_long.status_code == 400
    assert (await client.get(item)).json()["title"] == "After"
    assert (await client.get(page)).json()["data"][0]["title"] == "After"


async def test_tier_rate_limit_and_user_changes_apply_at_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    headers = await sign_up(client, "limited")
    await signed_in_admin(client, database_url, "root")
    created = await client.post(
        "/admin/tier/create", data={"name": "tight", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert created.status_code == 302, created.text
    tier_id = (await query(database_url, "SELECT id FROM tiers WHERE name = 'tight'"))[0][0]
    limit = {"name": "posts", "path": "/api/v1/{username}/post/", "limit": 1, "period": 3600}
    added = await client.post(
        "/admin/rate-limit/create",
        data={**limit, "tier_id": tier_id, "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert added.status_code == 302, added.text
    stored = await query(database_url, "SELECT id, path FROM rate_limits")
    assert [path for _, path in stored] == ["api/v1/{username}/post"]  # normalized as by the API

    # The user's edit form: a new name and the tier; a taken email is refused.
    user_form = {
        "name": "Limited One",
        "username": "limited",
        "email": "limited@example.com",
        "tier_id": tier_id,
        "save": "Save",
    }
    edit = f"/admin/user/edit/{await user_id(database_url, 'limited')}"
    taken = await client.post(
        edit, data={**user_form, "email": "root@example.com"}, headers=SAME_ORIGIN
    )
    assert taken.status_code == 400
    assert "already taken" in taken.text
    saved = await client.post(edit, data=user_form, headers=SAME_ORIGIN)
    assert saved.status_code == 302, saved.text
    assert (await client.get(f"{API}/user/limited")).json()["name"] == "Limited One"

    post, body = f"{API}/limited/post", {"title": "Limited", "text": "one an hour"}
    assert (await client.post(post, json=body, headers=headers)).status_code == 201
    assert (await client.post(post, json=body, headers=headers)).status_code == 429
    raised = await client.post(
        f"/admin/rate-limit/edit/{stored[0][0]}",
        data={**limit, "limit": 5, "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert raised.status_code == 302, raised.text
    assert (await client.post(post, json=body, headers=headers)).status_code == 201


async def test_the_other_writes_keep_the_api_rules(
    client: httpx.AsyncClient, database_url: str
) -> None:
    author = await sign_up(client, "author")
    created = await client.post(
        f"{API}/author/post", json={"title": "Hello", "text": "body"}, headers=author
    )
    post_id = created.json()["id"]
    await signed_in_admin(client, database_url, "root")

    # Posts: soft delete and restore, seen at once by the API.
    for action, status in (("soft-delete", 404), ("restore", 200)):
        done = await client.get(f"/admin/post/action/{action}?pks={post_id}", headers=FROM_PANEL)
        assert done.status_code == 302, done.text
        assert (await client.get(f"{API}/author/post/{post_id}")).status_code == status

    # A value the API's schema refuses is refused with its reason.
    edit = f"/admin/user/edit/{await user_id(database_url, 'author')}"
    form = {"name": "Author", "username": "Not Valid", "email": "author@example.com"}
    refused = await client.post(edit, data={**form, "save": "Save"}, headers=SAME_ORIGIN)
    assert refused.status_code == 400
    assert "username: String should match pattern" in refused.text
    # No word of the API's paths either; a reserved name (`admin`) is the operator's choice.
    path_word = await client.post(
        edit, data={**form, "username": "roles", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert path_word.status_code == 400
    assert "username: This username is reserved: it is a path of the API" in path_word.text
    renamed = await client.post(
        edit, data={**form, "username": "admin", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert renamed.status_code == 302, renamed.text
    assert (await client.get(f"{API}/user/admin")).status_code == 200
    back = await client.post(
        edit, data={**form, "username": "author", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert back.status_code == 302, back.text

    # Roles: created and deleted through roles.service (the names must be declared ones).
    role = {"name": "helpers", "description": "", "permissions": ["posts.delete_any"]}
    made = await client.post(
        "/admin/role/create", data={**role, "save": "Save"}, headers=SAME_ORIGIN
    )
    assert made.status_code == 302, made.text
    role_id = (await query(database_url, "SELECT id FROM roles WHERE name = 'helpers'"))[0][0]
    removed = await client.delete(f"/admin/role/delete?pks={role_id}", headers=SAME_ORIGIN)
    assert removed.status_code == 200, removed.text
    assert await query(database_url, "SELECT name FROM roles") == []

    # Tiers: renamed; not deleted while a user has it (409 from tiers.service); then deleted.
    made = await client.post(
        "/admin/tier/create", data={"name": "gold", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert made.status_code == 302, made.text
    tier_id = (await query(database_url, "SELECT id FROM tiers"))[0][0]
    renamed = await client.post(
        f"/admin/tier/edit/{tier_id}",
        data={"name": "platinum", "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert renamed.status_code == 302, renamed.text
    limit = {"tier_id": tier_id, "name": "x", "path": "api/v1/x", "limit": 1, "period": 60}
    added = await client.post(
        "/admin/rate-limit/create", data={**limit, "save": "Save"}, headers=SAME_ORIGIN
    )
    assert added.status_code == 302, added.text
    limit_id = (await query(database_url, "SELECT id FROM rate_limits"))[0][0]
    dropped = await client.delete(f"/admin/rate-limit/delete?pks={limit_id}", headers=SAME_ORIGIN)
    assert dropped.status_code == 200, dropped.text
    assert await query(database_url, "SELECT id FROM rate_limits") == []
    await execute(
        database_url, "UPDATE users SET tier_id = :t WHERE username = 'author'", t=tier_id
    )
    kept = await client.delete(f"/admin/tier/delete?pks={tier_id}", headers=SAME_ORIGIN)
    assert "still+assigned" in kept.text  # the list's URL, with the refusal as its error
    assert await query(database_url, "SELECT name FROM tiers") == [("platinum",)]
    await execute(database_url, "UPDATE users SET tier_id = NULL")
    gone = await client.delete(f"/admin/tier/delete?pks={tier_id}", headers=SAME_ORIGIN)
    assert gone.status_code == 200, gone.text
    assert await query(database_url, "SELECT name FROM tiers") == []


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
    me = await client.get(f"{API}/user/me/", headers=superuser_headers)
    assert me.status_code == 200
