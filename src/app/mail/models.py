from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, UTCDateTime, utcnow


class OutboxMail(IdMixin, Base):
    """A message waiting to be sent. It is written in the transaction that asks for it, so it
    exists exactly when that transaction commits; it is deleted once the server has taken it.

    `locked_until` is the sender's claim (and, after a failure, the time of the next try);
    `failed_at` is set when the server refused the message for good (kept for inspection).
    """

    __tablename__ = "mail_outbox"

    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    last_error: Mapped[str | None] = mapped_column(String(255), default=None)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
