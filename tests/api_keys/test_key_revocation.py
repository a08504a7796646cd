"""API keys follow the password and the session they came from, through HTTP: a password
reset (followed from its mail) or change revokes every key of the account, in the same
transaction, and mails the owner their names and prefixes (never a secret); reuse detection
ending a session revokes the keys created from it and no other; a logout, an ended session
or the purge of a session leave keys working. The mails need the mail feature, the reset the
account flows: those tests are skipped without them (tests/helpers/features.py).
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from fastapi import FastAPI

from app.auth.account import purge_auth_records
from app.core.config import Settings
from app.core.state import resources_of
from tests.helpers.database import execute, query
from tests.helpers.features import needs
from tests.helpers.http import (
    API,
    AppClientFactory,
    Headers,
    assert_unauthorized,
    bearer,
    error_detail,
    register,
    sign_up,
)
from tests.helpers.mail import APP_NAME, link_of, mail_app, mails, part, token_of
from tests.helpers.roles import create_key, key_bearer, key_header
from tests.helpers.settings import PASSWORD

ME = f"{API}/user/me/"
KEYS = f"{API}/user/me/api-keys"
NEW_PASSWORD = "battery-staple-2"
REVOKED_SUBJECT = f"API keys of your {APP_NAME} account were revoked"
DEFAULT_APP_NAME = Settings.model_fields["APP_NAME"].default


class Session(NamedTuple):
    """One login with body delivery: its tokens and its headers."""

    access: str
    refresh: str

    @property
    def headers(self) -> Headers:
        return bearer(self.access)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> Session:
    response = await client.post(
        f"{API}/login",
        params={"token_delivery": "body"},
        data={"username": username, "password": password},
    )
    assert response.status_code == 200, response.text
    return Session(response.json()["access_token"], response.json()["refresh_token"])


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(f"{API}/refresh", json={"refresh_token": refresh_token})


async def assert_key_works(client: httpx.AsyncClient, key: str, username: str) -> None:
    me = await client.get(ME, headers=key_bearer(key))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == username


async def assert_key_refused(client: httpx.AsyncClient, key: str) -> None:
    assert_unauthorized(await client.get(ME, headers=key_bearer(key)))
    error_detail(await client.get(ME, headers=key_header(key)), 401)


def revocation_mails(messages: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in messages if m["Subject"] == REVOKED_SUBJECT]


async def queued_revocation_mails(database_url: str) -> list[tuple[str, str]]:
    """(recipient, text) of the revocation mails in the outbox (of the `client` fixture's app,
    whose queue no worker serves)."""
    rows = await query(
        database_url,
        "SELECT recipient, text_body FROM mail_outbox WHERE subject = :subject ORDER BY id",
        subject=f"API keys of your {DEFAULT_APP_NAME} account were revoked",
    )
    return [(row[0], row[1]) for row in rows]


def assert_names_keys(text: str, keys: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
    """`text` names each of `keys` by name and prefix, and never a secret nor one of
    `others`."""
    for key in keys:
        assert key["name"] in text, text
        assert f"ak_{key['prefix']}_..." in text, text
    for key in keys + others:
        assert key["key"] not in text
        assert key["key"].rsplit("_", 1)[1] not in text  # not even the secret alone
    for key in others:
        assert key["prefix"] not in text, text


# --- the password -------------------------------------------------------------------------


@needs("accounts", "mail")
async def test_a_password_reset_revokes_every_key_and_mails_which(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        first, second = await sign_in(client, "ada"), await sign_in(client, "ada")
        backup = await create_key(client, first.headers, "backup script")
        deploy = await create_key(client, second.headers, "deploy <bot> & co")
        bobs = await create_key(client, await sign_up(client, "bob"), "bob's")
        for key in (backup, deploy):
            await assert_key_works(client, key["key"], "ada")

        asked = await client.post(f"{API}/password-reset", json={"email": "ada@example.com"})
        assert asked.status_code == 202, asked.text
        [reset] = [m for m in await mails(client, folder) if "Reset" in m["Subject"]]
        confirmed = await client.post(
            f"{API}/password-reset/confirm",
            json={"token": token_of(link_of(reset)), "new_password": NEW_PASSWORD},
        )
        assert confirmed.status_code == 200, confirmed.text

        for key in (backup, deploy):
            await assert_key_refused(client, key["key"])
        await assert_key_works(client, bobs["key"], "bob")
        # Gone from the list too, and the account signs in with the new password.
        fresh = await sign_in(client, "ada", NEW_PASSWORD)
        assert (await client.get(KEYS, headers=fresh.headers)).json() == []

        [notice] = revocation_mails(await mails(client, folder))
    assert notice["To"] == "ada@example.com"
    text, html = part(notice, "plain"), part(notice, "html")
    assert "reset with a link sent to this address" in text
    assert_names_keys(text, [backup], [bobs])
    assert "deploy <bot> & co" in text
    assert "deploy &lt;bot&gt; &amp; co" in html  # escaped in the HTML part
    assert "<bot>" not in html
    assert_names_keys(html, [backup], [bobs])


@needs("mail")
async def test_a_password_change_revokes_every_key_and_mails_which(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        other, caller = await sign_in(client, "ada"), await sign_in(client, "ada")
        from_other = await create_key(client, other.headers, "from the other session")
        from_caller = await create_key(client, caller.headers, "from this session")
        bobs = await create_key(client, await sign_up(client, "bob"), "bob's")

        changed = await client.post(
            f"{API}/user/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=caller.headers,
        )
        assert changed.status_code == 200, changed.text

        # Every key, the ones made from the session that changed the password too.
        for key in (from_other, from_caller):
            await assert_key_refused(client, key["key"])
        await assert_key_works(client, bobs["key"], "bob")
        # The calling session goes on, and can make a new key that works.
        assert (await client.get(ME, headers=caller.headers)).status_code == 200
        new = await create_key(client, caller.headers, "made after")
        await assert_key_works(client, new["key"], "ada")

        [notice] = revocation_mails(await mails(client, folder))
    assert notice["To"] == "ada@example.com"
    text = part(notice, "plain")
    assert "The password of your account was changed" in text
    assert_names_keys(text, [from_other, from_caller], [bobs, new])


@needs("mail")
async def test_a_password_change_without_keys_mails_nothing_more(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        caller = await sign_in(client, "ada")
        revoked = await create_key(client, caller.headers, "revoked by hand")
        gone = await client.delete(f"{KEYS}/{revoked['id']}", headers=caller.headers)
        assert gone.status_code == 204, gone.text
        changed = await client.post(
            f"{API}/user/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=caller.headers,
        )
        assert changed.status_code == 200, changed.text
        assert revocation_mails(await mails(client, folder)) == []


@needs("mail")
async def test_a_refused_password_change_keeps_the_keys(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "ada")
    caller = await sign_in(client, "ada")
    key = await create_key(client, caller.headers)
    refused = await client.post(
        f"{API}/user/me/password",
        json={"current_password": "wrong-password-1", "new_password": NEW_PASSWORD},
        headers=caller.headers,
    )
    error_detail(refused, 400)
    await assert_key_works(client, key["key"], "ada")
    assert await queued_revocation_mails(database_url) == []


# --- sessions -----------------------------------------------------------------------------


@needs("mail")
async def test_reuse_detection_revokes_the_keys_created_from_that_session_only(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await register(client, "ada")
        stolen, own = await sign_in(client, "ada"), await sign_in(client, "ada")
        minted = await create_key(client, stolen.headers, "minted from the stolen session")
        kept = await create_key(client, own.headers, "made from another session")

        rotated = await refresh(client, stolen.refresh)
        assert rotated.status_code == 200, rotated.text
        # The spent token again: two parties hold the session, which ends.
        assert_unauthorized(await refresh(client, stolen.refresh))

        await assert_key_refused(client, minted["key"])
        await assert_key_works(client, kept["key"], "ada")
        listed = await client.get(KEYS, headers=own.headers)
        assert [key["name"] for key in listed.json()] == [kept["name"]]

        # The owner is told at once, although the refresh answered 401: the mail was
        # committed with the session's end, and its sending enqueued after that commit.
        [notice] = revocation_mails(await mails(client, folder))
    assert notice["To"] == "ada@example.com"
    text = part(notice, "plain")
    assert "refresh tokens was used twice" in text
    assert_names_keys(text, [minted], [kept])


@needs("mail")
async def test_reuse_of_a_session_without_keys_mails_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "ada")
    stolen, own = await sign_in(client, "ada"), await sign_in(client, "ada")
    kept = await create_key(client, own.headers)
    assert (await refresh(client, stolen.refresh)).status_code == 200
    assert_unauthorized(await refresh(client, stolen.refresh))
    await assert_key_works(client, kept["key"], "ada")
    assert await queued_revocation_mails(database_url) == []


async def test_ending_a_session_otherwise_keeps_its_keys(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "ada")
    logged_out, ended, current = [await sign_in(client, "ada") for _ in range(3)]
    keys = [await create_key(client, s.headers) for s in (logged_out, ended)]

    out = await client.post(f"{API}/logout", headers=logged_out.headers)
    assert out.status_code == 200, out.text
    ended_id = await execute(
        database_url, "SELECT session_id FROM api_keys WHERE id = :id", id=keys[1]["id"]
    )
    deleted = await client.delete(f"{API}/user/me/sessions/{ended_id}", headers=current.headers)
    assert deleted.status_code == 204, deleted.text
    # The ended sessions' refresh tokens are refused, which is not reuse.
    for session in (logged_out, ended):
        assert_unauthorized(await refresh(client, session.refresh))

    for key in keys:
        await assert_key_works(client, key["key"], "ada")


async def test_the_purge_of_a_session_leaves_its_keys_working(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "ada")
    session = await sign_in(client, "ada")
    key = await create_key(client, session.headers)
    session_id = await execute(
        database_url, "SELECT session_id FROM api_keys WHERE id = :id", id=key["id"]
    )
    assert session_id is not None
    assert (await client.post(f"{API}/logout", headers=session.headers)).status_code == 200
    await execute(
        database_url,
        "UPDATE auth_sessions SET revoked_at = now() - interval '2 days' WHERE id = :id",
        id=session_id,
    )

    # The daily purge job deletes the session; the key only loses its link to it.
    assert await purge_auth_records({"resources": resources_of(app)}) == 1
    assert await query(database_url, "SELECT id FROM auth_sessions") == []
    assert await query(database_url, "SELECT session_id FROM api_keys") == [(None,)]
    await assert_key_works(client, key["key"], "ada")
