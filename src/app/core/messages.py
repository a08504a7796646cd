"""Mail as domains write it: a message rendered from the domain's own templates and published
as an event (core/events.py). The mail feature (app/mail), when installed, handles it: the
message goes into its outbox in the publisher's transaction and is sent by a job once that
commits. Without the feature nobody handles it, and nothing is sent.

A template is two files in a folder: `NAME.txt`, whose first line is `Subject: ...` followed by
a blank line and the text body, and `NAME.html`, the HTML body. Both use `$name` placeholders
(`string.Template`); values are HTML-escaped in the HTML part.

    templates = Templates(Path(__file__).parent / "templates")
    mail = templates.render("welcome", to=user.email, name=user.name)
    await publish(session, resources, mail)
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

from app.core.events import Event

MAX_SUBJECT_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Mail(Event):
    """One message to one address: a subject, a text body and, optionally, an HTML one."""

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
