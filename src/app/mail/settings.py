from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from app.core.config import FeatureSettings

Backend = Literal["smtp", "console", "file"]


class MailSettings(FeatureSettings):
    # smtp: send with SMTP_*; console: log each message (links included) for a developer;
    # file: write each message as an .eml file into MAIL_FILE_DIR. Default: smtp when
    # SMTP_HOST is set, else console.
    MAIL_BACKEND: Backend | None = None
    MAIL_FROM: str = "API starter <no-reply@localhost>"
    MAIL_FILE_DIR: Path = Path("mail")
    SMTP_HOST: str | None = None
    SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    # starttls: upgrade a plain connection (port 587); tls: TLS from the start (port 465);
    # none: plain text (a local relay or a test server only)
    SMTP_SECURITY: Literal["starttls", "tls", "none"] = "starttls"
    SMTP_USER: str | None = None
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0, le=300)

    @property
    def backend(self) -> Backend:
        if self.MAIL_BACKEND is not None:
            return self.MAIL_BACKEND
        return "smtp" if self.SMTP_HOST else "console"

    @property
    def delivers(self) -> bool:
        """Whether messages really leave (through an SMTP server), rather than being logged or
        written to files."""
        return self.backend == "smtp" and bool(self.SMTP_HOST)

    @model_validator(mode="after")
    def _smtp_needs_a_host(self) -> MailSettings:
        if self.MAIL_BACKEND == "smtp" and not self.SMTP_HOST:
            raise ValueError("MAIL_BACKEND=smtp needs SMTP_HOST")
        return self
