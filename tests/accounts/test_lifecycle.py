"""The account flows with real mail: the app enqueues, a real `app worker` process sends
through a real SMTP server (aiosmtpd, a process of its own), and the test follows the links
over HTTP, as a user would. How mail itself is delivered (retries, the outbox) is tested in
tests/mail.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.database import execute, query
from tests.helpers.http import API, AppClientFactory, bearer, login, login_response, register
from tests.helpers.processes import APP, Process, free_port
from tests.helpers.settings import PASSWORD, app_env
from tests.helpers.smtp import SmtpServer, html_of, link_in, smtp_worker, text_of, token_of

pytestmark = pytest.mark.slow

NEW_PASSWORD = "battery-staple-2"
BASE_URL = "http://localhost:8000"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def mail_worker(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Process]:
    with smtp_worker(tmp_path, database_url, smtp.port) as process:
        yield process


VERIFY = "Confirm your email address for API starter"
RESET = "Reset your API starter password"
NOTICE = "Your API starter email address is being changed"


async def wait_for_mail(smtp: SmtpServer, address: str, subject: str, count: int = 1) -> Any:
    return await asyncio.to_thread(smtp.wait_for, address, subject, count)


async def test_registration_mail_arrives_and_its_link_verifies_once(
    client: httpx.AsyncClient, smtp: SmtpServer, mail_worker: Process
) -> None:
    user = await register(client, "ada", name="Ada <b>&")
    assert user["email_verified"] is False

    message = await wait_for_mail(smtp, "ada@example.com", VERIFY)
    assert "no-reply@localhost" in message["From"]
    link = link_in(message)
    assert link.startswith(f"{BASE_URL}/verify-email?token=")
    assert link.replace("&", "&amp;") in html_of(message) or link in html_of(message)
    assert "Ada &lt;b&gt;&amp;" in html_of(message)  # the name, escaped in HTML
    assert "Ada <b>&" in text_of(message)

    token = token_of(link)
    verified = await client.post(f"{API}/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"message": "ada@example.com is verified"}
    me = await client.get(f"{API}/user/me/", headers=bearer(await login(client, "ada")))
    assert me.json()["email_verified"] is True

    again = await client.post(f"{API}/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json() == {"detail": "Invalid, expired or already used link"}
    # The token is a secret: neither the worker nor the queue's logs show it.
    assert token not in mail_worker.log()


async def test_expired_or_misused_verification_links_are_refused(
    client: httpx.AsyncClient, database_url: str, smtp: SmtpServer, mail_worker: Process
) -> None:
    await register(client, "bob")
    token = token_of(link_in(await wait_for_mail(smtp, "bob@example.com", VERIFY)))
    # Stored hashed: the database holds no trace of the token itself.
    rows = await query(database_url, "SELECT token_hash FROM link_tokens")
    assert rows
    assert all(token not in row[0] for row in rows)

    # A verification token is not a reset token.
    wrong_purpose = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert wrong_purpose.status_code == 400

    await execute(database_url, "UPDATE link_tokens SET expires_at = now() - interval '1 second'")
    expired = await client.post(f"{API}/verify-email", json={"token": token})
    assert expired.status_code == 400
    assert expired.json() == {"detail": "Invalid, expired or already used link"}

    # A new link replaces it; the user asks by address (the answer says nothing either way).
    resent = await client.post(f"{API}/verify-email/resend", json={"email": "bob@example.com"})
    assert resent.status_code == 202
    fresh = token_of(link_in(await wait_for_mail(smtp, "bob@example.com", VERIFY, count=2)))
    assert fresh != token
    assert (await client.post(f"{API}/verify-email", json={"token": fresh})).status_code == 200


async def test_password_reset_mails_a_single_use_link_that_ends_every_session(
    client: httpx.AsyncClient, smtp: SmtpServer, mail_worker: Process
) -> None:
    await register(client, "carol")
    first, second = await login(client, "carol"), await login(client, "carol")

    asked = await client.post(f"{API}/password-reset", json={"email": "Carol@Example.com"})
    assert asked.status_code == 202, asked.text
    message = await wait_for_mail(smtp, "carol@example.com", RESET)
    link = link_in(message)
    assert link.startswith(f"{BASE_URL}/reset-password?token=")
    token = token_of(link)

    confirmed = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    for access in (first, second):
        me = await client.get(f"{API}/user/me/", headers=bearer(access))
        assert me.status_code == 401, "a session outlived the password reset"
    assert (await login_response(client, "carol", PASSWORD)).status_code == 401
    new_session = await login(client, "carol", NEW_PASSWORD)
    me = await client.get(f"{API}/user/me/", headers=bearer(new_session))
    # The link reached the account's mailbox: the address counts as verified.
    assert me.json()["email_verified"] is True

    reused = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": "another-pass-3"}
    )
    assert reused.status_code == 400
    assert (await login_response(client, "carol", NEW_PASSWORD)).status_code == 200


async def test_reset_answers_unknown_addresses_the_same_and_mails_nobody(
    app_client: AppClientFactory, smtp: SmtpServer, mail_worker: Process
) -> None:
    limits = {"MAIL_RATE_LIMIT_LIMIT": 1000, "MAIL_ADDRESS_RATE_LIMIT_LIMIT": 1000}
    async with app_client(**limits) as client:
        await register(client, "dave")
        await wait_for_mail(smtp, "dave@example.com", VERIFY)

        known = await client.post(f"{API}/password-reset", json={"email": "dave@example.com"})
        unknown = await client.post(f"{API}/password-reset", json={"email": "nobody@example.com"})
        assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
        assert known.status_code == 202

        async def timed(address: str) -> float:
            started = time.perf_counter()
            response = await client.post(f"{API}/password-reset", json={"email": address})
            assert response.status_code == 202
            return time.perf_counter() - started

        known_times, unknown_times = [], []
        for _ in range(15):
            known_times.append(await timed("dave@example.com"))
            unknown_times.append(await timed("nobody@example.com"))
        known_median = statistics.median(known_times)
        unknown_median = statistics.median(unknown_times)
        # The request does the same work either way (the lookup is the job's): no gap that
        # tells whether the account exists.
        assert abs(known_median - unknown_median) < max(0.005, 0.5 * unknown_median), (
            known_median,
            unknown_median,
        )

    await wait_for_mail(smtp, "dave@example.com", RESET)
    await asyncio.sleep(1.5)  # every job has had its turn
    assert smtp.to("nobody@example.com") == []


async def test_email_change_keeps_the_old_address_until_the_new_one_is_confirmed(
    client: httpx.AsyncClient, smtp: SmtpServer, mail_worker: Process
) -> None:
    await register(client, "erin")
    headers = bearer(await login(client, "erin"))
    changed = await client.patch(
        f"{API}/user/erin", json={"email": "erin@new.example"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "erin@example.com"
    assert changed.json()["pending_email"] == "erin@new.example"

    notice = await wait_for_mail(smtp, "erin@example.com", NOTICE)
    assert "erin@new.example" in text_of(notice)
    confirm = await wait_for_mail(smtp, "erin@new.example", VERIFY)
    # Until confirmed, the old address is the one that signs in.
    assert (await login_response(client, "erin@new.example")).status_code == 401

    verified = await client.post(f"{API}/verify-email", json={"token": token_of(link_in(confirm))})
    assert verified.status_code == 200, verified.text
    me = (await client.get(f"{API}/user/me/", headers=headers)).json()
    assert (me["email"], me["pending_email"], me["email_verified"]) == (
        "erin@new.example",
        None,
        True,
    )
    assert (await login_response(client, "erin@new.example")).status_code == 200


def test_addresses_of_people_without_an_account_reach_no_log(
    tmp_path: Path, database_url: str
) -> None:
    """The reset and verification requests for an unknown address are looked up by a job:
    neither the server's log nor the worker's holds the address."""
    nobody = f"nobody-{secrets.token_hex(4)}@example.com"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = app_env(database_url, LOG_LEVEL="DEBUG")
    with (
        Process("serve", [APP, "serve", "--port", str(port)], cwd=tmp_path, env=env) as server,
        Process("worker", [APP, "worker"], cwd=tmp_path, env=env) as worker,
    ):
        server.wait_for_http(f"{url}/health")
        worker.wait_for_log("Starting worker")
        for path in ("/api/v1/password-reset", "/api/v1/verify-email/resend"):
            answer = httpx.post(f"{url}{path}", json={"email": nobody})
            assert answer.status_code == 202, answer.text
        for function in ("start_password_reset", "resend_verification"):
            worker.wait_until(
                lambda f=function: any(  # type: ignore[misc]
                    f in line and "←" in line for line in worker.log().splitlines()
                ),
                f"{function} to finish",
            )
    for process in (server, worker):
        log = process.log()
        assert nobody not in log, log
        assert nobody.split("@")[0] not in log, log
