"""Mail senders: one interface, three backends chosen by settings (MAIL_BACKEND), and the
MIME message they send.

    sender = create_sender(settings.feature(MailSettings))
    await sender.send(compose(mail, sender_address))   # an email.message.EmailMessage

A failed delivery raises `DeliveryError`; `permanent` tells whether trying again could help.
Each process builds its sender once, with its resources (`SENDER`, core/extensions.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

from app.core.extensions import Key
from app.core.messages import Mail
from app.mail.settings import MailSettings

if TYPE_CHECKING:
    from app.core.state import Resources

logger = logging.getLogger("app.mail")


class DeliveryError(Exception):
    """A message was not delivered. `permanent`: the server refused it for good (an unknown
    recipient, say); otherwise (unreachable, timed out, a 4xx answer) it may work later."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Deliver the message, or raise DeliveryError."""
        ...


class SmtpSender:
    """Sends through an SMTP server (aiosmtplib): STARTTLS, implicit TLS or plain."""

    def __init__(self, settings: MailSettings) -> None:
        if not settings.SMTP_HOST:
            raise ValueError("the smtp mail backend needs SMTP_HOST")
        self.host = settings.SMTP_HOST
        self.port = settings.SMTP_PORT
        self.security = settings.SMTP_SECURITY
        self.user = settings.SMTP_USER
        self.password = (
            settings.SMTP_PASSWORD.get_secret_value() if settings.SMTP_PASSWORD else None
        )
        self.timeout = settings.SMTP_TIMEOUT_SECONDS

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            permanent = all(500 <= code < 600 for code in codes)
            raise DeliveryError(f"recipient refused ({codes})", permanent=permanent) from None
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise DeliveryError(f"server answered {exc.code}", permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Unreachable, disconnected, timed out: the server's message may hold the host, not
            # a secret; only the error's kind is kept.
            raise DeliveryError(type(exc).__name__) from None


class ConsoleSender:
    """Logs each message (the text part, links included) so that a developer can follow them.
    For local use: the log is where the links go."""

    async def send(self, message: EmailMessage) -> None:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        logger.info(
            "mail to %s, subject %r (MAIL_BACKEND=console, not sent):\n%s",
            message["To"],
            message["Subject"],
            text.rstrip(),
        )


class FileSender:
    """Writes each message as an .eml file into a folder (tests and demos). A file appears
    whole or not at all: it is written under a temporary name, then renamed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._write, bytes(message))
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.folder}: {exc.strerror}") from None

    def _write(self, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(data)
        os.replace(partial, self.folder / name)


def create_sender(settings: MailSettings) -> MailSender:
    backend = settings.backend
    if backend == "smtp":
        return SmtpSender(settings)
    if backend == "file":
        return FileSender(settings.MAIL_FILE_DIR)
    return ConsoleSender()


SENDER: Key[MailSender] = Key("mail sender")


def open_sender(resources: Resources) -> MailSender:
    """The process's sender (the `SENDER` extension), from its mail settings."""
    return create_sender(resources.settings.feature(MailSettings))


def compose(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message: a text part, and an HTML alternative when there is one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    _, address = parseaddr(sender)
    domain = Address(addr_spec=address).domain if "@" in address else "localhost"
    message["Message-ID"] = make_msgid(domain=domain or "localhost")
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message
