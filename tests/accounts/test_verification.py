"""Email verification where it takes part in users and sign-in (users/verification.py): a new
address waits for its link, REQUIRE_VERIFIED_EMAIL refuses unverified sign-ins, and the flows'
paths are words no username may take (the admin panel's sign-in, when installed, refuses what
the API's login refuses). The mail is read from the outbox: no worker sends it here."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.core.state import resources_of
from tests.helpers.database import execute, query
from tests.helpers.features import needs
from tests.helpers.http import (
    API,
    AppClientFactory,
    assert_unauthorized,
    bearer,
    error_detail,
    login,
    login_response,
    register,
)
from tests.helpers.settings import PASSWORD

ME = f"{API}/user/me/"


async def outbox(database_url: str) -> list[tuple[str, str]]:
    """(recipient, subject) of every mail waiting in the outbox."""
    rows = await query(database_url, "SELECT recipient, subject FROM mail_outbox ORDER BY id")
    return [(str(recipient), str(subject)) for recipient, subject in rows]


async def signed_in(client: httpx.AsyncClient, username: str) -> str:
    await register(client, username)
    return await login(client, username)


async def me(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def patch(client: httpx.AsyncClient, username: str, body: Any, token: str) -> httpx.Response:
    return await client.patch(f"{API}/user/{username}", json=body, headers=bearer(token))


# --- registration and email change ---------------------------------------------------------


async def test_registration_queues_a_verification_mail(
    client: httpx.AsyncClient, database_url: str
) -> None:
    user = await register(client, "alice")
    assert user["email_verified"] is False
    assert await outbox(database_url) == [
        ("alice@example.com", "Confirm your email address for API starter")
    ]


async def test_update_email_is_pending_until_verified(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """With email verification on (the default) a new address waits for its link: the account
    keeps its address (and logs in with it) and the new one is only `pending_email`."""
    token = await signed_in(client, "alice")
    before = await me(client, token)
    registration_mail = await outbox(database_url)

    response = await patch(client, "alice", {"email": "New.Alice@Example.ORG"}, token)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["email"] == "alice@example.com"
    assert updated["pending_email"] == "new.alice@example.org"  # lower-cased
    assert updated["email_verified"] == before["email_verified"]
    assert (await me(client, token)) == updated
    # A link to the new address, a notice to the old one.
    queued = (await outbox(database_url))[len(registration_mail) :]
    assert sorted(recipient for recipient, _ in queued) == [
        "alice@example.com",
        "new.alice@example.org",
    ], queued
    assert (await login_response(client, "alice@example.com")).status_code == 200
    assert_unauthorized(await login_response(client, "new.alice@example.org"))


async def test_update_to_current_email_withdraws_a_pending_change(
    client: httpx.AsyncClient,
) -> None:
    token = await signed_in(client, "alice")
    pending = await patch(client, "alice", {"email": "new.alice@example.org"}, token)
    assert pending.json()["pending_email"] == "new.alice@example.org", pending.text

    response = await patch(client, "alice", {"email": "Alice@Example.com"}, token)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["pending_email"] is None
    assert (await me(client, token))["pending_email"] is None


async def test_with_verification_off_nothing_is_mailed_and_the_email_changes_at_once(
    app_client: AppClientFactory, database_url: str
) -> None:
    async with app_client(EMAIL_VERIFICATION_ENABLED=False) as client:
        token = await signed_in(client, "alice")
        response = await patch(client, "alice", {"email": "new.alice@example.org"}, token)
        assert response.status_code == 200, response.text
        assert (response.json()["email"], response.json()["pending_email"]) == (
            "new.alice@example.org",
            None,
        )
        assert await outbox(database_url) == []


# --- REQUIRE_VERIFIED_EMAIL -----------------------------------------------------------------


async def test_required_verification_refuses_unverified_logins(
    app_client: AppClientFactory, database_url: str
) -> None:
    async with app_client(REQUIRE_VERIFIED_EMAIL=True) as strict:
        user = await register(strict, "alice")
        assert user["email_verified"] is False

        refused = await login_response(strict, "alice", PASSWORD)
        detail = error_detail(refused, 403)
        assert detail.startswith("Email address not verified"), detail
        assert not refused.headers.get_list("set-cookie")
        # The right password is the only one that learns this: a wrong one is the usual 401.
        assert_unauthorized(await login_response(strict, "alice", "wrong-password-1"))
        assert_unauthorized(await login_response(strict, "nobody", PASSWORD))
        assert await execute(database_url, "SELECT count(*) FROM auth_sessions") == 0

        await execute(
            database_url, "UPDATE users SET email_verified = true WHERE username = 'alice'"
        )

        token = await login(strict, "alice")
        assert (await me(strict, token))["email_verified"] is True


@needs("admin")
async def test_required_verification_refuses_unverified_admin_sign_ins(
    app_client: AppClientFactory, database_url: str
) -> None:
    async def sign_in(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(
            "/admin/login",
            data={"username": "boss", "password": PASSWORD},
            headers={"Origin": "http://test"},
        )

    async with app_client(REQUIRE_VERIFIED_EMAIL=True) as strict:
        await register(strict, "boss")
        await execute(database_url, "UPDATE users SET is_superuser = true WHERE username = 'boss'")
        refused = await sign_in(strict)
        assert refused.status_code == 403, refused.text
        assert "Email address not verified" in refused.text
        await execute(
            database_url, "UPDATE users SET email_verified = true WHERE username = 'boss'"
        )
        signed_in = await sign_in(strict)
        assert signed_in.status_code == 302, signed_in.text


# --- paths ---------------------------------------------------------------------------------


def test_the_flows_paths_are_reserved_usernames(app: FastAPI) -> None:
    assert {"password-reset", "verify-email"} <= resources_of(app).path_words
