"""Mail as a test reads it: an app instance whose jobs run in-process (no REDIS_URL: the
embedded queue, cache and rate limits, on the run's PostgreSQL database) and whose mail
backend writes .eml files into a folder, read back with the stdlib `email` parser.

    async with mail_app(app_client, tmp_path / "mail") as client:
        await register(client, "ada")
        [message] = await mails(client, tmp_path / "mail")
        token = token_of(link_of(message))
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from app.core.state import resources_of
from app.platform.queue.local import LocalQueue
from tests.helpers.http import AppClient, AppClientFactory

APP_NAME = "Mail Test"
MAIL_FROM = "Mail Test <mailer@test.example>"
BASE_URL = "https://front.example/app"
LINK = re.compile(r"https?://[^\s\"'<>]+\?token=([A-Za-z0-9_\-]+)")


@asynccontextmanager
async def mail_app(
    app_client: AppClientFactory, folder: Path, **overrides: Any
) -> AsyncIterator[AppClient]:
    """An app whose jobs run in its own process and whose mail lands in `folder`."""
    settings: dict[str, Any] = {
        "REDIS_URL": None,  # the in-process queue: jobs run right after the request
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(folder),
        "MAIL_FROM": MAIL_FROM,
        "APP_NAME": APP_NAME,
        "PUBLIC_BASE_URL": BASE_URL + "/",  # the trailing slash is dropped
        **overrides,
    }
    async with app_client(**settings) as client:
        assert isinstance(resources_of(client.app).queue, LocalQueue)
        yield client


async def settle(client: AppClient) -> None:
    """Wait until every job of the app (lookups, then the mail they queue) has finished."""
    queue = resources_of(client.app).queue
    assert isinstance(queue, LocalQueue)
    await queue.drain()


async def mails(client: AppClient, folder: Path) -> list[EmailMessage]:
    """Every message written to `folder` so far, oldest first, once the jobs have run."""
    await settle(client)
    return await asyncio.to_thread(read_mails, folder)


def read_mails(folder: Path) -> list[EmailMessage]:
    if not folder.exists():
        return []
    # Whole files only: no temporary file is left behind.
    assert not [p.name for p in folder.iterdir() if not p.name.endswith(".eml")]
    messages = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body((subtype,))
    assert body is not None, f"no text/{subtype} part:\n{message}"
    assert body.get_content_type() == f"text/{subtype}"
    content: str = body.get_content()
    return content


def link_of(message: EmailMessage) -> str:
    found = LINK.search(part(message, "plain"))
    assert found, part(message, "plain")
    return found.group(0)


def token_of(link: str) -> str:
    found = LINK.fullmatch(link)
    assert found, link
    return found.group(1)
