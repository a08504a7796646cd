"""Messages: rendered from a domain's templates, composed into MIME (plain text plus HTML).

A template is two files in a folder: `NAME.txt`, whose first line is `Subject: ...` followed by
a blank line and the text body, and `NAME.html`, the HTML body. Both use `$name` placeholders
(`string.Template`); values are HTML-escaped in the HTML part.

    templates = Templates(Path(__file__).parent / "templates")
    mail = templates.render("verify_email", to="ada@example.com", name="Ada", link=link)
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import cache
from pathlib import Path
from string import Template

MAX_SUBJECT_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None


class Templates:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def render(self, template: str, *, to: str, **values: str) -> Mail:
        text = _load(self.folder / f"{template}.txt").substitute(values)
        first, _, body = text.partition("\n\n")
        if not first.startswith("Subject: "):
            raise ValueError(f"{template}.txt must start with a 'Subject: ...' line")
        subject = first.removeprefix("Subject: ").strip()[:MAX_SUBJECT_LENGTH]
        html_path = self.folder / f"{template}.html"
        html_body = None
        if html_path.exists():
            escaped = {key: html.escape(value) for key, value in values.items()}
            html_body = _load(html_path).substitute(escaped)
        return Mail(to=to, subject=subject, text=body.lstrip("\n"), html=html_body)


@cache
def _load(path: Path) -> Template:
    return Template(path.read_text(encoding="utf-8"))


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
