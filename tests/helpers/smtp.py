"""A real SMTP server for the tests: aiosmtpd, as a process of its own, storing every message
it accepts in a Maildir that the test reads; and a real `app worker` that sends to it.

    with SmtpServer(tmp_path) as smtp, smtp_worker(tmp_path, database_url, smtp.port):
        ...  # the app enqueues, the worker sends to 127.0.0.1:smtp.port
        message = smtp.wait_for("ada@example.com")
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.helpers.processes import APP, Process, clean_env, free_port
from tests.helpers.settings import app_env

LINK = re.compile(r"https?://\S+\?token=[A-Za-z0-9_\-]+")


@contextmanager
def smtp_worker(
    workdir: Path, database_url: str, smtp_port: int, **settings: Any
) -> Iterator[Process]:
    """A real `app worker` that sends mail to 127.0.0.1:`smtp_port` over plain SMTP."""
    env = app_env(
        database_url,
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_port,
        SMTP_SECURITY="none",
        SMTP_TIMEOUT_SECONDS=5,
        LOG_LEVEL="INFO",
        **settings,
    )
    with Process("worker", [APP, "worker"], cwd=workdir, env=env) as process:
        process.wait_for_log("Starting worker")
        yield process


class SmtpServer:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.maildir = workdir / f"maildir-{self.port}"
        self.process: Process | None = None

    def start(self) -> SmtpServer:
        argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}"]
        argv += ["-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)]
        self.process = Process(f"smtp-{self.port}", argv, cwd=self.workdir, env=clean_env())
        self.process.wait_until(self._listening, f"the SMTP server on port {self.port}")
        return self

    def _listening(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=10)

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, in the order of arrival."""
        if not (self.maildir / "new").exists():
            return []
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        found = []
        for key in box.iterkeys():
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append((_arrival(key), message))
        return [message for _, message in sorted(found, key=lambda pair: pair[0])]

    def to(self, address: str, subject: str | None = None) -> list[EmailMessage]:
        return [
            m
            for m in self.messages()
            if m["To"] == address and (subject is None or m["Subject"] == subject)
        ]

    def wait_for(
        self, address: str, subject: str | None = None, count: int = 1, timeout: float = 30
    ) -> EmailMessage:
        """The `count`-th message to `address` (with `subject`), once it has arrived."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.to(address, subject)
            if len(received) >= count:
                return received[count - 1]
            assert time.monotonic() < deadline, (
                f"no mail #{count} to {address} ({subject}) within {timeout} s; received: "
                f"{[(m['To'], m['Subject']) for m in self.messages()]}"
            )
            time.sleep(0.1)


def _arrival(key: str) -> tuple[int, int, str]:
    """When a message arrived, from its Maildir name: `SECONDS.M<MICROSECONDS>P<PID>Q<N>.host`."""
    seconds, _, rest = key.partition(".")
    micros = re.match(r"M(\d+)", rest)
    return int(seconds), int(micros.group(1)) if micros else 0, key


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None, "the message has no text part"
    content: str = part.get_content()
    return content


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "the message has no HTML part"
    content: str = part.get_content()
    return content


def link_in(message: EmailMessage) -> str:
    """The one link with a token in the message's text part."""
    links = LINK.findall(text_of(message))
    assert len(links) == 1, text_of(message)
    link: str = links[0]
    return link


def token_of(link: str) -> str:
    return link.rsplit("?token=", 1)[1]
