"""Account mail through the public interface: app instances whose jobs run in-process (no
REDIS_URL: the embedded queue, cache and rate limits, on the run's PostgreSQL database) and
whose mail backend writes .eml files, read back with the stdlib `email` parser
(tests/helpers/mail.py).

The SMTP path, with a real worker process and a real SMTP server, is in test_lifecycle.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http import (
    API,
    AppClientFactory,
    bearer,
    client_for,
    error_detail,
    login,
    login_response,
    register,
)
from tests.helpers.mail import (
    APP_NAME,
    BASE_URL,
    MAIL_FROM,
    link_of,
    mail_app,
    mails,
    part,
    settle,
    token_of,
)

NEW_PASSWORD = "battery-staple-2"
BAD_LINK = {"detail": "Invalid, expired or already used link"}
RESET_ANSWER = {"message": "If an account has this address, a reset link is on its way"}


# --- the message ---------------------------------------------------------------------------


async def test_registration_writes_a_whole_mime_message_with_the_link_in_both_parts(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        user = await register(client, "ada", name="Ada <b>& Co")
        assert user["email_verified"] is False
        [message] = await mails(client, folder)

    assert message["To"] == "ada@example.com"
    assert message["From"] == MAIL_FROM
    assert message["Subject"] == f"Confirm your email address for {APP_NAME}"
    assert message["Message-ID"]
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in message.iter_parts()]
    assert types == ["text/plain", "text/html"]

    text, html = part(message, "plain"), part(message, "html")
    link = link_of(message)
    assert link.startswith(f"{BASE_URL}/verify-email?token="), link
    assert len(token_of(link)) >= 32
    assert link in text
    assert f'href="{link}"' in html
    # The name as typed in the text part, escaped in the HTML part.
    assert "Ada <b>& Co" in text
    assert "Ada &lt;b&gt;&amp; Co" in html
    assert "<b>&" not in html
    assert "ada@example.com" in text


async def test_link_paths_come_from_the_settings(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    overrides = {"VERIFY_EMAIL_PATH": "/account/confirm", "PASSWORD_RESET_PATH": "/account/pw"}
    async with mail_app(app_client, folder, **overrides) as client:
        await register(client, "ada")
        reset = await client.post(f"{API}/password-reset", json={"email": "ada@example.com"})
        assert reset.status_code == 202, reset.text
        verify, password = await mails(client, folder)
    assert link_of(verify).startswith(f"{BASE_URL}/account/confirm?token=")
    assert link_of(password).startswith(f"{BASE_URL}/account/pw?token=")


async def test_the_verification_link_works_once(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        [message] = await mails(client, folder)
        token = token_of(link_of(message))

        verified = await client.post(f"{API}/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text
        assert verified.json() == {"message": "ada@example.com is verified"}
        me = await client.get(f"{API}/user/me/", headers=bearer(await login(client, "ada")))
        assert me.json()["email_verified"] is True
        assert me.json()["pending_email"] is None

        again = await client.post(f"{API}/verify-email", json={"token": token})
        assert again.status_code == 400
        assert again.json() == BAD_LINK
        # A verified address is sent nothing more when a link is asked for again.
        resend = await client.post(f"{API}/verify-email/resend", json={"email": "ada@example.com"})
        assert resend.status_code == 202
        assert len(await mails(client, folder)) == 1


async def test_a_resent_link_replaces_the_first(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        resend = await client.post(f"{API}/verify-email/resend", json={"email": "Ada@Example.com"})
        assert resend.status_code == 202, resend.text
        first, second = await mails(client, folder)
        old, new = token_of(link_of(first)), token_of(link_of(second))
        assert old != new
        assert (await client.post(f"{API}/verify-email", json={"token": old})).json() == BAD_LINK
        assert (await client.post(f"{API}/verify-email", json={"token": new})).status_code == 200


async def test_password_reset_by_mail(app_client: AppClientFactory, tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        headers = bearer(await login(client, "ada"))
        reset = await client.post(f"{API}/password-reset", json={"email": "ADA@example.com"})
        assert reset.status_code == 202, reset.text
        assert reset.json() == RESET_ANSWER
        _, message = await mails(client, folder)
        assert message["To"] == "ada@example.com"
        assert message["Subject"] == f"Reset your {APP_NAME} password"
        link = link_of(message)
        assert link.startswith(f"{BASE_URL}/reset-password?token="), link
        assert f'href="{link}"' in part(message, "html")
        token = token_of(link)

        confirm = await client.post(
            f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert confirm.status_code == 200, confirm.text
        assert (await login_response(client, "ada")).status_code == 401
        assert (await login_response(client, "ada", NEW_PASSWORD)).status_code == 200
        # Every session of the account ended with the reset.
        assert (await client.get(f"{API}/user/me/", headers=headers)).status_code == 401
        # The link reached the mailbox: the address counts as verified.
        me = await client.get(
            f"{API}/user/me/", headers=bearer(await login(client, "ada", NEW_PASSWORD))
        )
        assert me.json()["email_verified"] is True

        again = await client.post(
            f"{API}/password-reset/confirm", json={"token": token, "new_password": "another-pw-3"}
        )
        assert again.status_code == 400
        assert again.json() == BAD_LINK


async def test_unknown_addresses_get_the_same_answer_and_no_mail(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder, EMAIL_VERIFICATION_ENABLED=False) as client:
        await register(client, "ada")
        assert await mails(client, folder) == []  # verification is off: no mail at sign-up

        unknown = await client.post(f"{API}/password-reset", json={"email": "nobody@example.com"})
        assert await mails(client, folder) == []
        known = await client.post(f"{API}/password-reset", json={"email": "ada@example.com"})
        assert len(await mails(client, folder)) == 1

    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content
    assert unknown.json() == RESET_ANSWER
    assert sorted(unknown.headers.keys()) == sorted(known.headers.keys())


async def test_verification_resend_for_unknown_addresses_sends_nothing(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        assert len(await mails(client, folder)) == 1
        unknown = await client.post(
            f"{API}/verify-email/resend", json={"email": "nobody@example.com"}
        )
        assert len(await mails(client, folder)) == 1
        known = await client.post(f"{API}/verify-email/resend", json={"email": "ada@example.com"})
        assert len(await mails(client, folder)) == 2
    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content


# --- rate limits ---------------------------------------------------------------------------

MAIL_ENDPOINTS = ["/password-reset", "/verify-email/resend"]


@pytest.mark.parametrize("path", MAIL_ENDPOINTS)
async def test_mail_requests_are_limited_per_address(
    app_client: AppClientFactory, tmp_path: Path, path: str
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder, MAIL_ADDRESS_RATE_LIMIT_LIMIT=2) as client:
        await register(client, "ada")
        # The same address however it is spelled; known or not, counted alike.
        for address in ("ada@example.com", "ADA@example.com"):
            assert (await client.post(f"{API}{path}", json={"email": address})).status_code == 202
        limited = await client.post(f"{API}{path}", json={"email": "Ada@Example.com"})
        detail = error_detail(limited, 429)
        assert "Rate limit exceeded" in detail
        assert int(limited.headers["retry-after"]) >= 1

        for _ in range(2):
            other = await client.post(f"{API}{path}", json={"email": "nobody@example.com"})
            assert other.status_code == 202
        unknown = await client.post(f"{API}{path}", json={"email": "nobody@example.com"})
        assert unknown.status_code == 429
        assert unknown.json().keys() == limited.json().keys()
        # The sign-up mail, then one for each of the two requests let through; none for
        # the unknown address.
        assert [m["To"] for m in await mails(client, folder)] == ["ada@example.com"] * 3


@pytest.mark.parametrize("path", MAIL_ENDPOINTS)
async def test_mail_requests_are_limited_per_client_ip(
    app_client: AppClientFactory, tmp_path: Path, path: str
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder, MAIL_RATE_LIMIT_LIMIT=3) as client:
        statuses = [
            (await client.post(f"{API}{path}", json={"email": f"u{i}@example.com"})).status_code
            for i in range(3)
        ]
        assert statuses == [202] * 3
        limited = await client.post(f"{API}{path}", json={"email": "u9@example.com"})
        assert "Rate limit exceeded" in error_detail(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        # Another client is counted apart.
        async with client_for(client.app, peer=("10.20.30.40", 5000)) as elsewhere:
            other = await elsewhere.post(f"{API}{path}", json={"email": "u9@example.com"})
            assert other.status_code == 202, other.text


async def test_the_limit_is_shared_by_both_mail_requests(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder, MAIL_ADDRESS_RATE_LIMIT_LIMIT=2) as client:
        body = {"email": "ada@example.com"}
        assert (await client.post(f"{API}/password-reset", json=body)).status_code == 202
        assert (await client.post(f"{API}/verify-email/resend", json=body)).status_code == 202
        assert (await client.post(f"{API}/password-reset", json=body)).status_code == 429
        assert (await client.post(f"{API}/verify-email/resend", json=body)).status_code == 429


# --- bad input -----------------------------------------------------------------------------

LONG_TOKEN = "a" * 129
BAD_BODIES: list[tuple[str, Any]] = [
    ("/password-reset", {"email": "not-an-address"}),
    ("/password-reset", {"email": ""}),
    ("/password-reset", {"email": None}),
    ("/password-reset", {"email": ["ada@example.com"]}),
    ("/password-reset", {"email": "a" * 320 + "@example.com"}),
    ("/password-reset", {}),
    ("/password-reset", {"email": "ada@example.com", "extra": 1}),
    ("/password-reset", ["ada@example.com"]),
    ("/password-reset", "ada@example.com"),
    ("/verify-email/resend", {"email": "no at sign"}),
    ("/verify-email/resend", {}),
    ("/verify-email/resend", {"email": "ada@example.com", "username": "ada"}),
    ("/verify-email", {"token": LONG_TOKEN}),
    ("/verify-email", {"token": ""}),
    ("/verify-email", {"token": 12345}),
    ("/verify-email", {}),
    ("/verify-email", {"token": "abc", "extra": True}),
    ("/password-reset/confirm", {"token": LONG_TOKEN, "new_password": NEW_PASSWORD}),
    ("/password-reset/confirm", {"token": "abc"}),
    ("/password-reset/confirm", {"new_password": NEW_PASSWORD}),
    ("/password-reset/confirm", {"token": "abc", "new_password": "short"}),
    ("/password-reset/confirm", {"token": "abc", "new_password": "x" * 129}),
    ("/password-reset/confirm", {"token": "abc", "new_password": NEW_PASSWORD, "x": 1}),
]


@pytest.mark.parametrize(("path", "body"), BAD_BODIES)
async def test_bad_input_is_422(
    app_client: AppClientFactory, tmp_path: Path, path: str, body: Any
) -> None:
    async with (
        mail_app(app_client, tmp_path / "mail") as app,
        client_for(app.app, raise_app_exceptions=False) as client,
    ):
        response = await client.post(f"{API}{path}", json=body)
        error_detail(response, 422)
        assert await mails(app, tmp_path / "mail") == []


@pytest.mark.parametrize("path", ["/verify-email", "/password-reset/confirm"])
@pytest.mark.parametrize(
    "token", ["a" * 128, "x", "not a token at all!", "../../etc", "é" * 40, "\u0000abc"]
)
async def test_a_token_that_is_not_ours_is_400(
    app_client: AppClientFactory, tmp_path: Path, path: str, token: str
) -> None:
    async with (
        mail_app(app_client, tmp_path / "mail") as app,
        client_for(app.app, raise_app_exceptions=False) as client,
    ):
        body = {"token": token}
        if path == "/password-reset/confirm":
            body["new_password"] = NEW_PASSWORD
        response = await client.post(f"{API}{path}", json=body)
        assert response.status_code == 400, response.text
        assert response.json() == BAD_LINK


async def test_bad_json_is_422(app_client: AppClientFactory, tmp_path: Path) -> None:
    async with (
        mail_app(app_client, tmp_path / "mail") as app,
        client_for(app.app, raise_app_exceptions=False) as client,
    ):
        for path in (*MAIL_ENDPOINTS, "/verify-email", "/password-reset/confirm"):
            broken = await client.post(
                f"{API}{path}", content=b'{"email": ', headers={"content-type": "application/json"}
            )
            error_detail(broken, 422)
            empty = await client.post(f"{API}{path}")
            error_detail(empty, 422)


# --- features turned off -------------------------------------------------------------------


async def test_turned_off_features_answer_404(app_client: AppClientFactory, tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    off = {"EMAIL_VERIFICATION_ENABLED": False, "PASSWORD_RESET_ENABLED": False}
    requests: list[tuple[str, dict[str, str]]] = [
        ("/verify-email", {"token": "a" * 43}),
        ("/verify-email/resend", {"email": "ada@example.com"}),
        ("/password-reset", {"email": "ada@example.com"}),
        ("/password-reset/confirm", {"token": "a" * 43, "new_password": NEW_PASSWORD}),
    ]
    async with mail_app(app_client, folder, **off) as client:
        user = await register(client, "ada")
        assert user["email_verified"] is False
        for path, body in requests:
            response = await client.post(f"{API}{path}", json=body)
            detail = error_detail(response, 404)
            assert "turned off" in detail, detail
        assert await mails(client, folder) == []
        # Logging in does not need a verified address then.
        assert (await login_response(client, "ada")).status_code == 200


@pytest.mark.parametrize(
    ("setting", "off"),
    [
        ("EMAIL_VERIFICATION_ENABLED", ["/verify-email", "/verify-email/resend"]),
        ("PASSWORD_RESET_ENABLED", ["/password-reset", "/password-reset/confirm"]),
    ],
)
async def test_each_feature_turns_off_alone(
    app_client: AppClientFactory, tmp_path: Path, setting: str, off: list[str]
) -> None:
    bodies: dict[str, dict[str, str]] = {
        "/verify-email": {"token": "a" * 43},
        "/verify-email/resend": {"email": "ada@example.com"},
        "/password-reset": {"email": "ada@example.com"},
        "/password-reset/confirm": {"token": "a" * 43, "new_password": NEW_PASSWORD},
    }
    async with mail_app(app_client, tmp_path / "mail", **{setting: False}) as client:
        for path, body in bodies.items():
            response = await client.post(f"{API}{path}", json=body)
            if path in off:
                error_detail(response, 404)
            else:
                assert response.status_code in (202, 400), (path, response.text)


async def test_required_verification_lets_in_only_verified_accounts(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder, REQUIRE_VERIFIED_EMAIL=True) as client:
        await register(client, "ada")
        refused = await login_response(client, "ada")
        assert refused.status_code in (401, 403), refused.text
        assert refused.json()["detail"]
        [message] = await mails(client, folder)
        verified = await client.post(
            f"{API}/verify-email", json={"token": token_of(link_of(message))}
        )
        assert verified.status_code == 200, verified.text
        assert (await login_response(client, "ada")).status_code == 200


async def test_registration_still_answers_when_the_mail_folder_cannot_be_written(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    """A sender that fails leaves the message in the outbox; the request does not wait for
    it, nor fail with it."""
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    async with mail_app(app_client, blocked / "mail", WORKER_MAX_TRIES=1) as client:
        user = await register(client, "ada")
        assert user["email_verified"] is False
        await settle(client)
        reset = await client.post(f"{API}/password-reset", json={"email": "ada@example.com"})
        assert reset.status_code == 202
        await settle(client)
