"""Users through HTTP: registration, listing, viewing, updating and deleting accounts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers.database import execute
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
    parse_time,
    register,
)
from tests.helpers.http import user_body as payload
from tests.helpers.settings import PASSWORD

PUBLIC_FIELDS = {"id", "name", "username", "profile_image_url", "created_at"}
PRIVATE_FIELDS = PUBLIC_FIELDS | {
    "email",
    "email_verified",
    "pending_email",
    "is_superuser",
    "updated_at",
}
SECRET_FIELD = "hashed_password"
# Who calls: an access token, bearer headers (`superuser_headers`), or nobody.
Auth = str | Headers | None


# --- helpers -------------------------------------------------------------------------------


def auth_headers(auth: Auth) -> Headers:
    if isinstance(auth, str):
        return bearer(auth)
    return auth or {}


def assert_no_secrets(response: httpx.Response, password: str = PASSWORD) -> None:
    assert SECRET_FIELD not in response.text
    assert password not in response.text


def assert_public(user: dict[str, Any]) -> None:
    assert set(user) == PUBLIC_FIELDS, user


def assert_private(user: dict[str, Any]) -> None:
    assert set(user) == PRIVATE_FIELDS, user


async def signed_in(client: httpx.AsyncClient, username: str, **fields: Any) -> str:
    """Register `username` and return an access token (the refresh cookie lands in the jar)."""
    await register(client, username, **fields)
    return await login(client, username)


async def get_user(client: httpx.AsyncClient, username: str, auth: Auth = None) -> httpx.Response:
    headers = auth_headers(auth)
    return await client.get(f"{API}/user/{username}", headers=headers)


async def me(client: httpx.AsyncClient, auth: str | Headers) -> dict[str, Any]:
    response = await client.get(f"{API}/user/me/", headers=auth_headers(auth))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def list_users(client: httpx.AsyncClient, auth: Auth = None, **params: Any) -> dict[str, Any]:
    headers = auth_headers(auth)
    response = await client.get(f"{API}/users", params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def listed_usernames(client: httpx.AsyncClient) -> list[str]:
    page = await list_users(client, items_per_page=100)
    return [user["username"] for user in page["data"]]


async def patch(
    client: httpx.AsyncClient, username: str, body: Any, auth: Auth = None
) -> httpx.Response:
    headers = auth_headers(auth)
    return await client.patch(f"{API}/user/{username}", json=body, headers=headers)


async def delete(client: httpx.AsyncClient, username: str, auth: Auth = None) -> httpx.Response:
    headers = auth_headers(auth)
    return await client.delete(f"{API}/user/{username}", headers=headers)


async def hard_delete(
    client: httpx.AsyncClient, username: str, auth: Auth = None
) -> httpx.Response:
    headers = auth_headers(auth)
    return await client.delete(f"{API}/db_user/{username}", headers=headers)


# --- registration --------------------------------------------------------------------------


async def test_register_returns_private_view(client: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    response = await client.post(f"{API}/user", json=payload("alice", name="Alice Liddell"))

    assert response.status_code == 201, response.text
    user = response.json()
    assert_private(user)
    assert isinstance(user["id"], int)
    assert user["name"] == "Alice Liddell"
    assert user["username"] == "alice"
    assert user["email"] == "alice@example.com"
    assert user["email_verified"] is False
    assert user["pending_email"] is None
    assert user["is_superuser"] is False
    assert user["profile_image_url"] is None
    created = parse_time(user["created_at"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert_no_secrets(response)


async def test_registered_user_can_sign_in(client: httpx.AsyncClient) -> None:
    registered = await register(client, "alice")
    token = await login(client, "alice")
    assert (await me(client, token))["id"] == registered["id"]


async def test_register_lowercases_email(client: httpx.AsyncClient) -> None:
    user = await register(client, "carol", email="Carol.Smith@Example.COM")

    assert user["email"] == "carol.smith@example.com"
    response = await login_response(client, "CAROL.SMITH@example.com")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("Alice", id="uppercase"),
        pytest.param("a", id="too-short"),
        pytest.param("x" * 21, id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("me", id="reserved"),
        pytest.param("al-ice", id="hyphen"),
        pytest.param("al_ice", id="underscore"),
        pytest.param("al ice", id="space"),
        pytest.param("alice\n", id="trailing-newline"),
        pytest.param("álice", id="non-ascii"),
        pytest.param(42, id="not-a-string"),
    ],
)
async def test_register_rejects_invalid_username(client: httpx.AsyncClient, username: Any) -> None:
    response = await client.post(f"{API}/user", json=payload("valid", username=username))
    error_detail(response, 422)
    assert await listed_usernames(client) == []


@pytest.mark.parametrize("username", ["ab", "x" * 20, "a1b2", "123"])
async def test_register_accepts_valid_username(client: httpx.AsyncClient, username: str) -> None:
    response = await client.post(f"{API}/user", json=payload(username, email="someone@example.com"))
    assert response.status_code == 201, response.text
    assert response.json()["username"] == username


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("A", id="too-short"),
        pytest.param("  A  ", id="too-short-after-strip"),
        pytest.param("   ", id="blank"),
        pytest.param("", id="empty"),
        pytest.param("x" * 31, id="too-long"),
        pytest.param(None, id="null"),
    ],
)
async def test_register_rejects_invalid_name(client: httpx.AsyncClient, name: Any) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", name=name))
    error_detail(response, 422)
    assert await listed_usernames(client) == []


@pytest.mark.parametrize(
    ("name", "stored"),
    [("Al", "Al"), ("x" * 30, "x" * 30), ("  Ada Lovelace  ", "Ada Lovelace")],
)
async def test_register_accepts_valid_name(
    client: httpx.AsyncClient, name: str, stored: str
) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", name=name))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == stored


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "alice@", "@example.com", "al ice@example.com", "alice@@example.com", ""],
)
async def test_register_rejects_invalid_email(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", email=email))
    error_detail(response, 422)
    assert await listed_usernames(client) == []


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("abcde12", id="7-chars"),
        pytest.param("abcdefghij", id="no-digit"),
        pytest.param("1234567890", id="no-letter"),
        pytest.param(" abcdef123", id="leading-space"),
        pytest.param("abcdef123 ", id="trailing-space"),
        pytest.param("\tabcdef123", id="leading-tab"),
        pytest.param("abcdef123\n", id="trailing-newline"),
        pytest.param("a1" * 64 + "x", id="129-chars"),
        pytest.param("", id="empty"),
    ],
)
async def test_register_rejects_invalid_password(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", password=password))
    error_detail(response, 422)
    assert await listed_usernames(client) == []


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("abcdefg1", id="8-chars"),
        pytest.param("a1" * 64, id="128-chars"),
        pytest.param("pass word 42", id="inner-spaces"),
        pytest.param("pässwörd9", id="non-ascii-letters"),
    ],
)
async def test_register_accepts_valid_password_and_it_signs_in(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", password=password))
    assert response.status_code == 201, response.text
    assert_no_secrets(response, password)
    assert (await login_response(client, "alice", password)).status_code == 200
    assert (await login_response(client, "alice", password + "x")).status_code == 401


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"is_superuser": True}, id="is_superuser"),
        pytest.param({"tier_id": 1}, id="tier_id"),
        pytest.param({"hashed_password": "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"}, id="hash"),
        pytest.param({"id": 999}, id="id"),
        pytest.param({"is_deleted": True}, id="is_deleted"),
        pytest.param({"nickname": "al"}, id="unknown"),
    ],
)
async def test_register_rejects_unknown_and_privileged_fields(
    client: httpx.AsyncClient, extra: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", **extra))

    error_detail(response, 422)
    assert PASSWORD not in response.text
    for value in extra.values():
        if isinstance(value, str):
            assert value not in response.text
    assert (await get_user(client, "alice")).status_code == 404


@pytest.mark.parametrize("missing", ["name", "username", "email", "password"])
async def test_register_requires_every_field(client: httpx.AsyncClient, missing: str) -> None:
    body = payload("alice")
    del body[missing]
    response = await client.post(f"{API}/user", json=body)
    error_detail(response, 422)


async def test_register_duplicate_username_conflicts(client: httpx.AsyncClient) -> None:
    original = await register(client, "alice")

    response = await client.post(
        f"{API}/user", json=payload("alice", email="other@example.com", name="Impostor")
    )

    detail = error_detail(response, 409)
    assert "username" in str(detail).lower()
    assert_no_secrets(response)
    shown = (await get_user(client, "alice")).json()
    assert shown["id"] == original["id"]
    assert shown["name"] == original["name"]


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@Example.com"])
async def test_register_duplicate_email_conflicts_case_insensitively(
    client: httpx.AsyncClient, email: str
) -> None:
    await register(client, "alice", email="alice@example.com")

    response = await client.post(f"{API}/user", json=payload("bob", email=email))

    detail = error_detail(response, 409)
    assert "email" in str(detail).lower()
    assert await listed_usernames(client) == ["alice"]


async def test_concurrent_identical_registrations_create_one_user(
    client: httpx.AsyncClient,
) -> None:
    body = payload("racer")

    responses = await asyncio.gather(*(client.post(f"{API}/user", json=body) for _ in range(10)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 9, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            error_detail(response, 409)
    assert await listed_usernames(client) == ["racer"]


async def test_concurrent_registrations_with_one_email_create_one_user(
    client: httpx.AsyncClient,
) -> None:
    bodies = [payload(f"racer{i}", email="same@example.com") for i in range(6)]

    responses = await asyncio.gather(*(client.post(f"{API}/user", json=b) for b in bodies))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 5, [r.text for r in responses]
    assert len(await listed_usernames(client)) == 1


# --- secrets never leave the API -----------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"password": "Sekrit-marker-" + "9" * 120}, id="password-too-long"),
        pytest.param({"password": "Sekritmarkeronly"}, id="password-without-digit"),
        pytest.param({"password": " Sekrit-marker-7"}, id="password-leading-space"),
        pytest.param({"password": "Sekrit-marker-7", "username": "BAD"}, id="bad-username"),
        pytest.param({"password": "Sekrit-marker-7", "email": "nope"}, id="bad-email"),
        pytest.param({"password": "Sekrit-marker-7", "is_superuser": True}, id="privileged"),
        pytest.param({"password": ["Sekrit-marker-7"]}, id="password-wrong-type"),
    ],
)
async def test_registration_422_does_not_echo_password(
    client: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/user", json=payload("alice", **overrides))

    error_detail(response, 422)
    assert "Sekrit" not in response.text
    assert SECRET_FIELD not in response.text


async def test_malformed_registration_json_does_not_echo_password(
    client: httpx.AsyncClient,
) -> None:
    content = '{"username": "alice", "password": "Sekrit-marker-7", "name": '
    response = await client.post(
        f"{API}/user", content=content, headers={"content-type": "application/json"}
    )

    error_detail(response, 422)
    assert "Sekrit" not in response.text


async def test_no_response_reveals_password_hash_or_password(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    password = "Unique-pass-4242"
    responses = [await client.post(f"{API}/user", json=payload("alice", password=password))]
    responses.append(await login_response(client, "alice", password))
    token = responses[-1].json()["access_token"]
    admin = superuser_headers
    responses += [
        await client.get(f"{API}/user/me/", headers=bearer(token)),
        await get_user(client, "alice"),
        await get_user(client, "alice", token),
        await get_user(client, "alice", admin),
        await client.get(f"{API}/users"),
        await client.get(f"{API}/users", headers=bearer(token)),
        await client.get(f"{API}/users", headers=admin),
        await patch(client, "alice", {"name": "Alice Again"}, token),
        await patch(client, "alice", {"password": password}, token),
        await patch(client, "alice", {SECRET_FIELD.upper(): "x"}, token),
        await client.post(f"{API}/user", json=payload("alice", password=password)),
        await client.get("/openapi.json"),
    ]
    for response in responses:
        assert response.status_code < 500, response.text
        assert_no_secrets(response, password)


# --- listing -------------------------------------------------------------------------------


async def test_list_users_paginates_in_registration_order(client: httpx.AsyncClient) -> None:
    for username in ("ann", "ben", "cat"):
        await register(client, username)

    first = await list_users(client, page=1, items_per_page=2)
    second = await list_users(client, page=2, items_per_page=2)
    beyond = await list_users(client, page=3, items_per_page=2)

    assert set(first) == {"data", "total_count", "has_more", "page", "items_per_page"}
    assert [u["username"] for u in first["data"]] == ["ann", "ben"]
    assert (first["total_count"], first["has_more"], first["page"], first["items_per_page"]) == (
        3,
        True,
        1,
        2,
    )
    assert [u["username"] for u in second["data"]] == ["cat"]
    assert (second["total_count"], second["has_more"], second["page"]) == (3, False, 2)
    assert beyond["data"] == []
    assert (beyond["total_count"], beyond["has_more"], beyond["page"]) == (3, False, 3)


async def test_list_users_defaults(client: httpx.AsyncClient) -> None:
    await register(client, "ann")

    page = await list_users(client)

    assert page["page"] == 1
    assert page["items_per_page"] == 10
    assert page["total_count"] == 1
    assert page["has_more"] is False


async def test_list_users_empty(client: httpx.AsyncClient) -> None:
    page = await list_users(client)
    assert page["data"] == []
    assert page["total_count"] == 0
    assert page["has_more"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"items_per_page": 0},
        {"items_per_page": 101},
        {"items_per_page": -5},
    ],
)
async def test_list_users_rejects_bad_page_params(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get(f"{API}/users", params=params)
    error_detail(response, 422)


@pytest.mark.parametrize("items_per_page", [1, 100])
async def test_list_users_accepts_page_size_bounds(
    client: httpx.AsyncClient, items_per_page: int
) -> None:
    await register(client, "ann")
    await register(client, "ben")

    page = await list_users(client, items_per_page=items_per_page)

    assert page["items_per_page"] == items_per_page
    assert len(page["data"]) == min(items_per_page, 2)
    assert page["has_more"] is (items_per_page < 2)


async def test_list_users_hides_soft_deleted(client: httpx.AsyncClient) -> None:
    await register(client, "ann")
    token = await signed_in(client, "ben")
    await register(client, "cat")
    assert (await delete(client, "ben", token)).status_code == 204

    page = await list_users(client)

    assert [u["username"] for u in page["data"]] == ["ann", "cat"]
    assert page["total_count"] == 2


async def test_list_users_anonymous_sees_public_views(client: httpx.AsyncClient) -> None:
    await register(client, "ann")
    await register(client, "ben")

    page = await list_users(client)

    assert len(page["data"]) == 2
    for user in page["data"]:
        assert_public(user)
    assert "@example.com" not in str(page)


async def test_list_users_signed_in_user_sees_only_own_private_view(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ann")
    token = await signed_in(client, "ben")

    page = await list_users(client, token)

    by_name = {user["username"]: user for user in page["data"]}
    assert_public(by_name["ann"])
    assert_private(by_name["ben"])
    assert by_name["ben"]["email"] == "ben@example.com"
    assert "ann@example.com" not in str(page)


async def test_list_users_superuser_sees_private_views(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await register(client, "ann")
    await register(client, "ben")
    admin = superuser_headers

    page = await list_users(client, admin)

    by_name = {user["username"]: user for user in page["data"]}
    assert set(by_name) == {"ann", "ben", SUPERUSER}
    for username, user in by_name.items():
        assert_private(user)
        assert user["email"] == f"{username}@example.com"
    assert by_name[SUPERUSER]["is_superuser"] is True
    assert by_name["ann"]["is_superuser"] is False


async def test_list_users_with_invalid_token_is_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/users", headers=bearer("not-a-token"))
    assert_unauthorized(response)


# --- me ------------------------------------------------------------------------------------


async def test_me_returns_own_private_view(client: httpx.AsyncClient) -> None:
    registered = await register(client, "alice")
    await register(client, "bob")
    token = await login(client, "alice")

    mine = await me(client, token)

    assert_private(mine)
    assert mine == registered


async def test_me_requires_authentication(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get(f"{API}/user/me/"))


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Bearer a.b.c"],
)
async def test_me_refuses_bad_credentials(client: httpx.AsyncClient, authorization: str) -> None:
    response = await client.get(f"{API}/user/me/", headers={"Authorization": authorization})
    assert_unauthorized(response)


async def test_me_refuses_refresh_token_as_access_token(client: httpx.AsyncClient) -> None:
    await signed_in(client, "alice")
    refresh = client.cookies["refresh_token"]

    response = await client.get(f"{API}/user/me/", headers=bearer(refresh))

    assert_unauthorized(response)


async def test_login_sets_refresh_cookie_on_api_path(client: httpx.AsyncClient) -> None:
    await register(client, "alice")

    response = await login_response(client, "alice")

    assert response.status_code == 200
    cookie = next(c for c in client.cookies.jar if c.name == "refresh_token")
    assert cookie.path == "/api/v1"
    assert "httponly" in response.headers["set-cookie"].lower()


# --- viewing one user ----------------------------------------------------------------------


async def test_get_user_anonymous_sees_public_view(client: httpx.AsyncClient) -> None:
    registered = await register(client, "alice")

    response = await get_user(client, "alice")

    assert response.status_code == 200
    shown = response.json()
    assert_public(shown)
    assert shown == {key: registered[key] for key in PUBLIC_FIELDS}


async def test_get_user_other_user_sees_public_view(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await signed_in(client, "bob")

    response = await get_user(client, "alice", token)

    assert response.status_code == 200
    assert_public(response.json())


async def test_get_user_self_sees_private_view(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")

    response = await get_user(client, "alice", token)

    assert response.status_code == 200
    assert_private(response.json())
    assert response.json()["email"] == "alice@example.com"


async def test_get_user_superuser_sees_private_view(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await register(client, "alice")
    admin = superuser_headers

    response = await get_user(client, "alice", admin)

    assert response.status_code == 200
    assert_private(response.json())
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["is_superuser"] is False


async def test_get_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    error_detail(await get_user(client, "nobody"), 404)


async def test_get_soft_deleted_user_is_not_found(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    token = await signed_in(client, "alice")
    assert (await delete(client, "alice", token)).status_code == 204
    admin = superuser_headers

    error_detail(await get_user(client, "alice"), 404)
    error_detail(await get_user(client, "alice", admin), 404)


# --- updating ------------------------------------------------------------------------------


async def test_update_own_account(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")
    before = await me(client, token)

    response = await patch(client, "alice", {"name": "Alice Updated"}, token)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert_private(updated)
    assert updated["name"] == "Alice Updated"
    assert {k: v for k, v in updated.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("name", "updated_at")
    }
    assert updated["updated_at"] is not None
    assert parse_time(updated["updated_at"]) >= parse_time(updated["created_at"])
    if before["updated_at"] is not None:
        assert parse_time(updated["updated_at"]) > parse_time(before["updated_at"])
    assert (await me(client, token)) == updated
    assert (await get_user(client, "alice")).json()["name"] == "Alice Updated"


async def test_update_username_moves_the_account(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")

    response = await patch(client, "alice", {"username": "alicia"}, token)

    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alicia"
    error_detail(await get_user(client, "alice"), 404)
    assert (await get_user(client, "alicia")).status_code == 200
    assert (await me(client, token))["username"] == "alicia"
    assert (await login_response(client, "alicia")).status_code == 200


async def test_update_email_without_verification_changes_it_at_once(
    app_client: AppClientFactory, database_url: str
) -> None:
    """Without a feature that verifies addresses (app/accounts removed, or its verification
    turned off), a new address is the account's at once."""
    async with app_client(EMAIL_VERIFICATION_ENABLED=False) as client:
        token = await signed_in(client, "alice")
        await execute(
            database_url, "UPDATE users SET email_verified = true WHERE username = 'alice'"
        )
        assert (await me(client, token))["email_verified"] is True

        response = await patch(client, "alice", {"email": "New.Alice@Example.ORG"}, token)

        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["email"] == "new.alice@example.org"
        assert updated["email_verified"] is False  # nobody has confirmed the new address
        assert updated["pending_email"] is None
        assert (await login_response(client, "new.alice@example.org")).status_code == 200
        assert_unauthorized(await login_response(client, "alice@example.com"))


async def test_update_to_own_values_is_not_a_conflict(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")

    response = await patch(
        client, "alice", {"username": "alice", "email": "ALICE@example.com"}, token
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["pending_email"] is None


async def test_update_with_empty_body_changes_nothing(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")
    before = await me(client, token)

    response = await patch(client, "alice", {}, token)

    assert response.status_code == 200, response.text
    assert response.json()["name"] == before["name"]
    assert response.json()["email"] == before["email"]


async def test_update_requires_authentication(client: httpx.AsyncClient) -> None:
    await register(client, "alice")

    assert_unauthorized(await patch(client, "alice", {"name": "Hacked"}))
    assert (await get_user(client, "alice")).json()["name"] == "Alice Tester"


async def test_update_other_users_account_is_forbidden(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await signed_in(client, "bob")

    error_detail(await patch(client, "alice", {"name": "Hacked"}, token), 403)
    error_detail(await patch(client, "alice", {"email": "bob2@example.com"}, token), 403)

    assert (await get_user(client, "alice")).json()["name"] == "Alice Tester"


async def test_superuser_cannot_update_another_account(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await register(client, "alice")
    admin = superuser_headers

    error_detail(await patch(client, "alice", {"name": "Hacked"}, admin), 403)
    assert (await get_user(client, "alice")).json()["name"] == "Alice Tester"


async def test_update_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")
    error_detail(await patch(client, "nobody", {"name": "Who"}, token), 404)


async def test_update_to_taken_username_conflicts(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    token = await signed_in(client, "alice")

    detail = error_detail(await patch(client, "alice", {"username": "bob"}, token), 409)

    assert "username" in str(detail).lower()
    assert (await me(client, token))["username"] == "alice"


@pytest.mark.parametrize("email", ["bob@example.com", "BOB@Example.COM"])
async def test_update_to_taken_email_conflicts(client: httpx.AsyncClient, email: str) -> None:
    await register(client, "bob")
    token = await signed_in(client, "alice")

    detail = error_detail(await patch(client, "alice", {"email": email}, token), 409)

    assert "email" in str(detail).lower()
    assert (await me(client, token))["email"] == "alice@example.com"


async def test_update_to_soft_deleted_users_username_conflicts(client: httpx.AsyncClient) -> None:
    bob = await signed_in(client, "bob")
    assert (await delete(client, "bob", bob)).status_code == 204
    token = await signed_in(client, "alice")

    error_detail(await patch(client, "alice", {"username": "bob"}, token), 409)
    error_detail(await patch(client, "alice", {"email": "bob@example.com"}, token), 409)


async def test_concurrent_renames_to_one_username(client: httpx.AsyncClient) -> None:
    tokens = {name: await signed_in(client, name) for name in ("ann", "ben", "cat")}

    responses = await asyncio.gather(
        *(patch(client, name, {"username": "winner"}, token) for name, token in tokens.items())
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 409, 409], [r.text for r in responses]
    assert sorted(await listed_usernames(client)) == sorted(
        ["winner", *[n for n, r in zip(tokens, responses, strict=True) if r.status_code == 409]]
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"is_superuser": True}, id="is_superuser"),
        pytest.param({"tier_id": 1}, id="tier_id"),
        pytest.param({"name": "Alice", "is_superuser": True}, id="is_superuser-with-valid"),
        pytest.param({"hashed_password": "x"}, id="hashed_password"),
        pytest.param({"password": "another-pass-1"}, id="password"),
        pytest.param({"id": 99}, id="id"),
        pytest.param({"is_deleted": True}, id="is_deleted"),
        pytest.param({"created_at": "2000-01-01T00:00:00Z"}, id="created_at"),
    ],
)
async def test_update_rejects_privileged_and_unknown_fields(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    token = await signed_in(client, "alice")
    before = await me(client, token)

    error_detail(await patch(client, "alice", body, token), 422)

    after = await me(client, token)
    assert after == before
    assert after["is_superuser"] is False
    assert (await login_response(client, "alice")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": None}, id="name-null"),
        pytest.param({"username": None}, id="username-null"),
        pytest.param({"email": None}, id="email-null"),
        pytest.param({"name": "A"}, id="name-too-short"),
        pytest.param({"name": "x" * 31}, id="name-too-long"),
        pytest.param({"username": "Alice"}, id="username-uppercase"),
        pytest.param({"username": "me"}, id="username-reserved"),
        pytest.param({"username": "x" * 21}, id="username-too-long"),
        pytest.param({"email": "nope"}, id="email-invalid"),
        pytest.param(["name", "Alice"], id="not-an-object"),
    ],
)
async def test_update_rejects_invalid_values(client: httpx.AsyncClient, body: Any) -> None:
    token = await signed_in(client, "alice")
    before = await me(client, token)

    error_detail(await patch(client, "alice", body, token), 422)

    assert await me(client, token) == before


@pytest.mark.parametrize(
    "url", ["https://cdn.example.com/avatars/alice.png", "http://example.com/a.jpg"]
)
async def test_update_profile_image_url(client: httpx.AsyncClient, url: str) -> None:
    token = await signed_in(client, "alice")

    response = await patch(client, "alice", {"profile_image_url": url}, token)

    assert response.status_code == 200, response.text
    assert response.json()["profile_image_url"] == url
    assert (await get_user(client, "alice")).json()["profile_image_url"] == url


async def test_update_profile_image_url_can_be_cleared(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")
    url = "https://example.com/a.png"
    assert (await patch(client, "alice", {"profile_image_url": url}, token)).status_code == 200

    response = await patch(client, "alice", {"profile_image_url": None}, token)

    assert response.status_code == 200, response.text
    assert response.json()["profile_image_url"] is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
        "not a url",
        "/relative/a.png",
        "",
        "https://example.com/" + "a" * 2100,
    ],
)
async def test_update_rejects_non_http_profile_image_url(
    client: httpx.AsyncClient, url: str
) -> None:
    token = await signed_in(client, "alice")

    error_detail(await patch(client, "alice", {"profile_image_url": url}, token), 422)

    assert (await me(client, token))["profile_image_url"] is None


# --- soft delete ---------------------------------------------------------------------------


async def test_delete_own_account(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    token = await signed_in(client, "alice")
    assert "refresh_token" in client.cookies

    response = await delete(client, "alice", token)

    assert response.status_code == 204
    assert response.content == b""
    assert_unauthorized(await client.get(f"{API}/user/me/", headers=bearer(token)))
    assert_unauthorized(await client.post(f"{API}/refresh"))
    error_detail(await login_response(client, "alice"), 401)
    error_detail(await login_response(client, "alice@example.com"), 401)
    error_detail(await get_user(client, "alice"), 404)
    assert await listed_usernames(client) == ["bob"]


async def test_deleted_users_token_cannot_delete_again(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")
    assert (await delete(client, "alice", token)).status_code == 204

    assert_unauthorized(await delete(client, "alice", token))
    assert_unauthorized(await patch(client, "alice", {"name": "Ghost"}, token))


async def test_deleted_username_and_email_cannot_be_registered_again(
    client: httpx.AsyncClient,
) -> None:
    token = await signed_in(client, "alice")
    assert (await delete(client, "alice", token)).status_code == 204

    same_username = await client.post(
        f"{API}/user", json=payload("alice", email="fresh@example.com")
    )
    same_email = await client.post(f"{API}/user", json=payload("alice2", email="alice@example.com"))

    error_detail(same_username, 409)
    error_detail(same_email, 409)
    assert await listed_usernames(client) == []


async def test_delete_requires_authentication(client: httpx.AsyncClient) -> None:
    await register(client, "alice")

    assert_unauthorized(await delete(client, "alice"))
    assert (await get_user(client, "alice")).status_code == 200


async def test_delete_other_users_account_is_forbidden(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await signed_in(client, "bob")

    error_detail(await delete(client, "alice", token), 403)

    assert (await get_user(client, "alice")).status_code == 200
    assert (await login_response(client, "alice")).status_code == 200


async def test_superuser_cannot_soft_delete_another_account(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await register(client, "alice")
    admin = superuser_headers

    error_detail(await delete(client, "alice", admin), 403)
    assert (await get_user(client, "alice")).status_code == 200


async def test_delete_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    token = await signed_in(client, "alice")
    error_detail(await delete(client, "nobody", token), 404)
    assert (await me(client, token))["username"] == "alice"


# --- hard delete ---------------------------------------------------------------------------


async def test_hard_delete_requires_authentication(client: httpx.AsyncClient) -> None:
    await register(client, "alice")

    assert_unauthorized(await hard_delete(client, "alice"))
    assert (await get_user(client, "alice")).status_code == 200


async def test_hard_delete_requires_superuser(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await signed_in(client, "bob")

    error_detail(await hard_delete(client, "alice", token), 403)
    error_detail(await hard_delete(client, "bob", token), 403)

    assert (await get_user(client, "alice")).status_code == 200
    assert (await me(client, token))["username"] == "bob"


async def test_hard_delete_unknown_user_is_not_found(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    error_detail(await hard_delete(client, "nobody", admin), 404)


async def test_hard_delete_removes_user_and_refuses_their_tokens(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    async with client_for(app) as victim_client:
        victim = await signed_in(victim_client, "alice")

        response = await hard_delete(client, "alice", admin)

        assert response.status_code == 204
        assert response.content == b""
        assert_unauthorized(await victim_client.get(f"{API}/user/me/", headers=bearer(victim)))
        assert_unauthorized(await victim_client.post(f"{API}/refresh"))
    error_detail(await login_response(client, "alice"), 401)
    error_detail(await get_user(client, "alice"), 404)
    assert await listed_usernames(client) == [SUPERUSER]
    error_detail(await hard_delete(client, "alice", admin), 404)


async def test_hard_delete_frees_username_and_email(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    old = await register(client, "alice")
    admin = superuser_headers
    assert (await hard_delete(client, "alice", admin)).status_code == 204

    new = await register(client, "alice")

    assert new["id"] != old["id"]


async def test_hard_delete_works_on_soft_deleted_user(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    async with client_for(app) as victim_client:
        victim = await signed_in(victim_client, "alice")
        assert (await delete(victim_client, "alice", victim)).status_code == 204

        assert (await hard_delete(client, "alice", admin)).status_code == 204

        assert_unauthorized(await victim_client.get(f"{API}/user/me/", headers=bearer(victim)))
        assert_unauthorized(await victim_client.post(f"{API}/refresh"))
    error_detail(await hard_delete(client, "alice", admin), 404)
    assert (await client.post(f"{API}/user", json=payload("alice"))).status_code == 201


async def test_hard_delete_leaves_other_users_alone(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await register(client, "alice")
    bob = await signed_in(client, "bob")
    admin = superuser_headers

    assert (await hard_delete(client, "alice", admin)).status_code == 204

    assert (await me(client, bob))["username"] == "bob"
    assert (await me(client, admin))["username"] == SUPERUSER
    assert await listed_usernames(client) == [SUPERUSER, "bob"]  # in sign-up order


# --- errors --------------------------------------------------------------------------------


async def test_unknown_route_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    error_detail(await client.get(f"{API}/nowhere"), 404)
    error_detail(await client.put(f"{API}/user/alice", json={}), 405)
