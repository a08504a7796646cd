from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from app.core.config import FeatureSettings, Settings
from app.mail.settings import MailSettings


class AccountSettings(FeatureSettings):
    # Where users open the links of account mails (your frontend); each link is
    # PUBLIC_BASE_URL + its path + ?token=...
    PUBLIC_BASE_URL: str = "http://localhost:8000"
    VERIFY_EMAIL_PATH: str = "/verify-email"
    PASSWORD_RESET_PATH: str = "/reset-password"  # noqa: S105
    # The flows that send mail; outside local they need SMTP_HOST (or turning off)
    EMAIL_VERIFICATION_ENABLED: bool = True
    PASSWORD_RESET_ENABLED: bool = True
    # Refuse logins of accounts whose address is not verified yet
    REQUIRE_VERIFIED_EMAIL: bool = False
    EMAIL_VERIFICATION_EXPIRE_HOURS: int = Field(default=48, ge=1, le=30 * 24)
    PASSWORD_RESET_EXPIRE_MINUTES: int = Field(default=30, ge=5, le=24 * 60)
    # Mails asked for (verification resends, resets), per client IP and per address
    MAIL_RATE_LIMIT_LIMIT: int = Field(default=10, ge=1)
    MAIL_RATE_LIMIT_PERIOD: int = Field(default=3600, ge=1)
    MAIL_ADDRESS_RATE_LIMIT_LIMIT: int = Field(default=3, ge=1)
    MAIL_ADDRESS_RATE_LIMIT_PERIOD: int = Field(default=3600, ge=1)

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) URL such as https://app.example.com")
        return value.rstrip("/")

    @field_validator("VERIFY_EMAIL_PATH", "PASSWORD_RESET_PATH")
    @classmethod
    def _valid_link_path(cls, value: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9_\-./~]*", value):
            raise ValueError("must be a URL path starting with /")
        return value

    @model_validator(mode="after")
    def _verification_for_required_verification(self) -> AccountSettings:
        if self.REQUIRE_VERIFIED_EMAIL and not self.EMAIL_VERIFICATION_ENABLED:
            raise ValueError(
                "REQUIRE_VERIFIED_EMAIL needs EMAIL_VERIFICATION_ENABLED (nobody could log in)"
            )
        return self

    @property
    def sends_mail(self) -> bool:
        """Whether a flow that mails users is on."""
        return self.EMAIL_VERIFICATION_ENABLED or self.PASSWORD_RESET_ENABLED

    def problems(self, settings: Settings) -> list[str]:
        # (REQUIRE_VERIFIED_EMAIL needs verification on: checked above, so sends_mail covers it.)
        if not self.sends_mail:
            return []
        problems = []
        if not settings.feature(MailSettings).delivers:
            problems.append(
                "email verification and password reset send mail: set SMTP_HOST (and "
                "SMTP_*), or turn them off with EMAIL_VERIFICATION_ENABLED=false and "
                "PASSWORD_RESET_ENABLED=false"
            )
        if "PUBLIC_BASE_URL" not in self.model_fields_set:
            problems.append("the links in account mails need PUBLIC_BASE_URL")
        return problems
