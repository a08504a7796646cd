"""Mail as the rest of the app sends it: a `Mail` published in a transaction (core/messages.py)
goes into the outbox with that transaction and out through the sender after it commits.

The messages are published the way a domain's service does, in an app's own process; the
in-process runner writes them as .eml files (tests/helpers/mail.py), and a real `app worker`
sends them to a real SMTP server (tests/helpers/smtp.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.core.db import unit_of_work
from app.core.events import publish
from app.core.messages import Mail, Templates
from app.core.state import resources_of
from tests.helpers.database import query
from tests.helpers.http import AppClientFactory
from tests.helpers.mail import MAIL_FROM, mail_app, mails, part
from tests.helpers.smtp import SmtpServer, smtp_worker

HELLO = Mail(
    to="ada@example.com",
    subject="Hello from the tests",
    text="Plain words.\n",
    html="<p>Plain words.</p>\n",
)


async def send(app: FastAPI, mail: Mail) -> None:
    """Publish `mail` in a unit of work of `app`'s process, as a service would."""
    resources = resources_of(app)
    async with unit_of_work(resources) as db:
        await publish(db, resources, mail)


async def outbox(database_url: str) -> list[tuple[int, object, object]]:
    rows = await query(database_url, "SELECT attempts, locked_until, failed_at FROM mail_outbox")
    return [(int(row[0]), row[1], row[2]) for row in rows]


async def test_a_published_mail_is_sent_whole_after_the_commit(
    app_client: AppClientFactory, tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await send(client.app, HELLO)
        [message] = await mails(client, folder)
        # Sent, then removed from the outbox.
        assert await outbox(database_url) == []

    assert (message["To"], message["From"], message["Subject"]) == (
        "ada@example.com",
        MAIL_FROM,
        "Hello from the tests",
    )
    assert message["Message-ID"]
    assert message["Date"]
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert part(message, "plain") == "Plain words.\n"
    assert part(message, "html") == "<p>Plain words.</p>\n"


async def test_a_mail_from_templates_escapes_its_values_in_html_only(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "hello.txt").write_text("Subject: Hello $name\n\nDear $name,\nwelcome.\n")
    (templates / "hello.html").write_text("<p>Dear $name,</p>\n")
    mail = Templates(templates).render("hello", to="ada@example.com", name="Ada <b>&")
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        await send(client.app, mail)
        [message] = await mails(client, folder)
    assert message["Subject"] == "Hello Ada <b>&"
    assert part(message, "plain") == "Dear Ada <b>&,\nwelcome.\n"
    assert part(message, "html") == "<p>Dear Ada &lt;b&gt;&amp;,</p>\n"


async def test_a_rolled_back_transaction_sends_nothing(
    app_client: AppClientFactory, tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "mail"

    async def fail_after_asking(app: FastAPI) -> None:
        resources = resources_of(app)
        async with unit_of_work(resources) as db:
            await publish(db, resources, HELLO)
            raise RuntimeError("the request failed after asking for the mail")

    async with mail_app(app_client, folder) as client:
        with pytest.raises(RuntimeError, match="failed after asking"):
            await fail_after_asking(client.app)
        assert await mails(client, folder) == []
        assert await outbox(database_url) == []


async def test_a_mail_the_sender_cannot_take_waits_in_the_outbox(
    app_client: AppClientFactory, tmp_path: Path, database_url: str
) -> None:
    """A sender that fails leaves the message in the outbox, for a later try."""
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    async with mail_app(app_client, blocked / "mail", WORKER_MAX_TRIES=1) as client:
        await send(client.app, HELLO)
        await mails(client, blocked / "mail")
        [(attempts, locked_until, failed_at)] = await outbox(database_url)
    assert (attempts, failed_at) == (1, None)
    assert locked_until is not None


@pytest.mark.slow
async def test_mail_waits_while_smtp_is_down_and_goes_out_once_it_is_back(
    app: FastAPI, tmp_path: Path, database_url: str
) -> None:
    server = SmtpServer(tmp_path)  # its port refuses connections until it starts
    with smtp_worker(tmp_path, database_url, server.port, WORKER_MAX_TRIES=30) as process:
        await send(app, HELLO)

        async def failed_tries() -> int:
            rows = await query(database_url, "SELECT attempts, last_error FROM mail_outbox")
            return int(rows[0][0]) if rows and rows[0][1] else 0

        deadline = time.monotonic() + 30
        while await failed_tries() < 2:
            assert time.monotonic() < deadline, process.log()
            await asyncio.sleep(0.2)
        assert "trying again" in process.log()

        with server:
            message = await asyncio.to_thread(server.wait_for, "ada@example.com", HELLO.subject)
            assert "Plain words." in part(message, "plain")
        # Sent, then removed from the outbox.
        deadline = time.monotonic() + 10
        while await outbox(database_url):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_mail_whose_job_has_no_tries_left_waits_in_the_outbox(
    app: FastAPI, tmp_path: Path, database_url: str
) -> None:
    """The log says what happens to it: no "trying again" that the runner would not do."""
    server = SmtpServer(tmp_path)  # never started: SMTP is down
    with smtp_worker(tmp_path, database_url, server.port, WORKER_MAX_TRIES=1) as process:
        await send(app, HELLO)
        process.wait_for_log("its job has no tries left")
    log = process.log()
    assert "resend_unsent_mail (every minute) enqueues it again at its first run after" in log
    assert "trying again in" not in log
    assert "max retries" not in log
    [(attempts, locked_until, failed_at)] = await outbox(database_url)
    assert (attempts, failed_at) == (1, None)
    assert locked_until is not None
