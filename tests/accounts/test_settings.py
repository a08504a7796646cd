"""The account flows' settings (app/accounts/settings.py): the links, the flows turned on or
off, and what they refuse outside local: mail that is not really sent (SMTP, from the mail
feature's settings) or links without PUBLIC_BASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.accounts.settings import AccountSettings
from app.core.config import ConfigError
from app.mail.settings import MailSettings
from tests.helpers.processes import clean_env, free_port, run_app
from tests.helpers.settings import load_with_features

SETTING_NAMES = (
    *AccountSettings.model_fields,
    *MailSettings.model_fields,
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "ENVIRONMENT",
    "ADMIN_PASSWORD",
    "ALLOWED_HOSTS",
)
GOOD_KEY = "k" * 64
SMTP_SECRET = "smtp-s3cret-password"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": GOOD_KEY,
    "ADMIN_PASSWORD": "A-real-admin-password-1",
    "ALLOWED_HOSTS": "app.example.com",
    "DATABASE_URL": "postgresql://app:pw@db:5432/app",
    "REDIS_URL": "redis://redis:6379/0",
    "SMTP_HOST": "smtp.example.com",
    "PUBLIC_BASE_URL": "https://app.example.com",
}
NEEDS_SMTP = "email verification and password reset send mail: set SMTP_HOST"
NEEDS_BASE_URL = "the links in account mails need PUBLIC_BASE_URL"
MAIL_OFF = {"EMAIL_VERIFICATION_ENABLED": False, "PASSWORD_RESET_ENABLED": False}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def production(**change: object) -> dict[str, object]:
    """The production values with some replaced (None: left out)."""
    values = {**PRODUCTION, **change}
    return {name: value for name, value in values.items() if value is not None}


def accounts(**values: object) -> AccountSettings:
    return load_with_features(**values).feature(AccountSettings)


def refusal(**values: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_with_features(**values)
    message = str(caught.value)
    for secret in (GOOD_KEY, SMTP_SECRET, "A-real-admin-password-1"):
        assert secret not in message
    return message


def test_account_defaults() -> None:
    settings = accounts()
    assert settings.PUBLIC_BASE_URL == "http://localhost:8000"
    assert settings.VERIFY_EMAIL_PATH == "/verify-email"
    assert settings.PASSWORD_RESET_PATH == "/reset-password"
    assert settings.EMAIL_VERIFICATION_ENABLED is True
    assert settings.PASSWORD_RESET_ENABLED is True
    assert settings.REQUIRE_VERIFIED_EMAIL is False
    assert settings.EMAIL_VERIFICATION_EXPIRE_HOURS == 48
    assert settings.PASSWORD_RESET_EXPIRE_MINUTES == 30
    assert (settings.MAIL_RATE_LIMIT_LIMIT, settings.MAIL_RATE_LIMIT_PERIOD) == (10, 3600)
    assert (settings.MAIL_ADDRESS_RATE_LIMIT_LIMIT, settings.MAIL_ADDRESS_RATE_LIMIT_PERIOD) == (
        3,
        3600,
    )


def test_production_with_smtp_and_the_public_base_url_is_accepted() -> None:
    settings = load_with_features(**PRODUCTION)
    assert settings.feature(AccountSettings).sends_mail
    assert settings.feature(MailSettings).delivers


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_outside_local_mail_needs_smtp_and_the_public_base_url(environment: str) -> None:
    message = refusal(**production(ENVIRONMENT=environment, SMTP_HOST=None, PUBLIC_BASE_URL=None))
    assert message.startswith(f"invalid configuration: ENVIRONMENT={environment} refuses: ")
    assert NEEDS_SMTP in message
    assert "EMAIL_VERIFICATION_ENABLED=false and PASSWORD_RESET_ENABLED=false" in message
    assert NEEDS_BASE_URL in message

    only_smtp = refusal(**production(ENVIRONMENT=environment, PUBLIC_BASE_URL=None))
    assert NEEDS_BASE_URL in only_smtp
    assert NEEDS_SMTP not in only_smtp
    only_url = refusal(**production(ENVIRONMENT=environment, SMTP_HOST=None))
    assert NEEDS_SMTP in only_url
    assert NEEDS_BASE_URL not in only_url


@pytest.mark.parametrize("backend", ["console", "file"])
def test_outside_local_mail_must_really_be_sent(backend: str) -> None:
    """SMTP_HOST is not enough when the backend would only log or write the messages."""
    message = refusal(**production(MAIL_BACKEND=backend, SMTP_PASSWORD=SMTP_SECRET))
    assert NEEDS_SMTP in message
    settings = load_with_features(**production(MAIL_BACKEND="smtp"))
    assert settings.feature(MailSettings).backend == "smtp"


@pytest.mark.parametrize(
    "features",
    [
        {"EMAIL_VERIFICATION_ENABLED": False},
        {"PASSWORD_RESET_ENABLED": False},
        {"REQUIRE_VERIFIED_EMAIL": True},
        {"PASSWORD_RESET_ENABLED": False, "REQUIRE_VERIFIED_EMAIL": True},
    ],
)
def test_one_mail_feature_on_still_needs_smtp(features: dict[str, bool]) -> None:
    message = refusal(**production(SMTP_HOST=None, PUBLIC_BASE_URL=None, **features))
    assert NEEDS_SMTP in message
    assert NEEDS_BASE_URL in message


def test_outside_local_with_smtp_and_base_url_is_accepted() -> None:
    settings = load_with_features(
        **production(
            ENVIRONMENT="staging",
            SMTP_USER="mailer",
            SMTP_PASSWORD=SMTP_SECRET,
            SMTP_SECURITY="tls",
            SMTP_PORT=465,
            REQUIRE_VERIFIED_EMAIL=True,
        )
    )
    assert settings.feature(MailSettings).backend == "smtp"
    assert settings.feature(AccountSettings).PUBLIC_BASE_URL == "https://app.example.com"
    for read in (settings, *settings.features()):
        assert SMTP_SECRET not in repr(read)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_turning_both_mail_features_off_removes_the_requirement(environment: str) -> None:
    settings = load_with_features(
        **production(ENVIRONMENT=environment, SMTP_HOST=None, PUBLIC_BASE_URL=None, **MAIL_OFF)
    )
    assert not settings.feature(AccountSettings).sends_mail
    # Never used for the flows; anything else that mails is logged.
    assert settings.feature(MailSettings).backend == "console"


def test_mail_settings_from_the_environment_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a deployment sets them: environment variables (strings) rather than arguments."""
    for name, value in production(SMTP_HOST=None, PUBLIC_BASE_URL=None).items():
        monkeypatch.setenv(name, str(value))
    assert NEEDS_BASE_URL in refusal()
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://app.example.com/")
    assert accounts().PUBLIC_BASE_URL == "https://app.example.com"
    # An empty value is no value (compose passes unset variables as empty strings).
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    assert NEEDS_BASE_URL in refusal()
    monkeypatch.delenv("PUBLIC_BASE_URL")
    monkeypatch.setenv("EMAIL_VERIFICATION_ENABLED", "false")
    monkeypatch.setenv("PASSWORD_RESET_ENABLED", "false")
    assert not accounts().sends_mail


def test_env_example_for_production_asks_for_the_public_base_url(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    overrides = production(SMTP_HOST="smtp.example.com", PUBLIC_BASE_URL=None)
    message = refusal(**overrides)
    assert NEEDS_BASE_URL in message
    assert NEEDS_SMTP not in message


@pytest.mark.parametrize("environment", ["local", "staging", "production"])
def test_required_verification_without_verification_is_refused_everywhere(
    environment: str,
) -> None:
    values = production(
        ENVIRONMENT=environment, REQUIRE_VERIFIED_EMAIL=True, EMAIL_VERIFICATION_ENABLED=False
    )
    message = refusal(**values)
    assert "REQUIRE_VERIFIED_EMAIL needs EMAIL_VERIFICATION_ENABLED" in message
    assert "REQUIRE_VERIFIED_EMAIL needs EMAIL_VERIFICATION_ENABLED" in refusal(
        REQUIRE_VERIFIED_EMAIL=True, EMAIL_VERIFICATION_ENABLED=False
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://example.com/front/", "https://example.com/front"),
    ],
)
def test_public_base_url_is_kept_without_its_trailing_slash(value: str, expected: str) -> None:
    kept = accounts(PUBLIC_BASE_URL=value).PUBLIC_BASE_URL
    assert kept == expected


@pytest.mark.parametrize(
    "value",
    [
        "app.example.com",
        "ftp://app.example.com",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "https://app example.com",
        "https://app.example.com/?next=1",
        "https://app.example.com/#top",
        "//app.example.com",
        "",
    ],
)
@pytest.mark.parametrize("environment", ["local", "production"])
def test_bad_public_base_url_is_a_config_error(value: str, environment: str) -> None:
    message = refusal(**production(ENVIRONMENT=environment, PUBLIC_BASE_URL=value))
    assert "PUBLIC_BASE_URL" in message
    assert "http(s) URL" in message


@pytest.mark.parametrize("name", ["VERIFY_EMAIL_PATH", "PASSWORD_RESET_PATH"])
@pytest.mark.parametrize("value", ["verify", "https://evil.example/x", "/a b", "/x?token=1", ""])
def test_bad_link_paths_are_config_errors(name: str, value: str) -> None:
    message = refusal(**{name: value})
    assert name in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAIL_VERIFICATION_EXPIRE_HOURS", "0"),
        ("PASSWORD_RESET_EXPIRE_MINUTES", "1"),
        ("MAIL_RATE_LIMIT_LIMIT", "0"),
        ("MAIL_ADDRESS_RATE_LIMIT_PERIOD", "0"),
        ("EMAIL_VERIFICATION_ENABLED", "perhaps"),
    ],
)
def test_bad_account_values_are_reported_by_name(name: str, value: str) -> None:
    assert name in refusal(**{name: value})


@pytest.mark.parametrize(
    ("settings", "needles"),
    [
        (
            {**PRODUCTION, "SMTP_HOST": None, "SMTP_PASSWORD": SMTP_SECRET},
            ["invalid configuration", "ENVIRONMENT=production refuses", NEEDS_SMTP],
        ),
        (
            {**PRODUCTION, "PUBLIC_BASE_URL": None},
            ["invalid configuration", "ENVIRONMENT=production refuses", NEEDS_BASE_URL],
        ),
        ({"PUBLIC_BASE_URL": "app.example.com"}, ["invalid configuration", "PUBLIC_BASE_URL"]),
    ],
    ids=["production-without-smtp", "production-without-base-url", "bad-url"],
)
def test_serve_with_unusable_account_settings_refuses_in_one_line(
    tmp_path: Path, settings: dict[str, str | None], needles: list[str]
) -> None:
    """One `error: ...` line and exit code 2, as for any other bad setting: the server does
    not start (the embedded case has a migrated database, so only the account settings can
    stop it; the production ones name a database host that does not exist)."""
    if "DATABASE_URL" not in settings:
        migrated = run_app("migrate", cwd=tmp_path, env=clean_env(), timeout=60)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    result = run_app(
        "serve",
        "--port",
        str(free_port()),
        cwd=tmp_path,
        env=clean_env(**settings),
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    for needle in needles:
        assert needle in lines[0], output
    for secret in (GOOD_KEY, SMTP_SECRET, "A-real-admin-password-1"):
        assert secret not in output
