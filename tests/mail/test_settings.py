"""The mail feature's settings (app/mail/settings.py): which sender, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import ConfigError
from app.mail.settings import MailSettings
from tests.helpers.processes import clean_env, free_port, run_app
from tests.helpers.settings import load_with_features

SETTING_NAMES = (*MailSettings.model_fields, "ENVIRONMENT")
SMTP_SECRET = "smtp-s3cret-password"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def mail_settings(**values: object) -> MailSettings:
    return load_with_features(**values).feature(MailSettings)


def refusal(**values: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_with_features(**values)
    message = str(caught.value)
    assert SMTP_SECRET not in message
    return message


def test_mail_defaults() -> None:
    settings = mail_settings()
    assert settings.SMTP_PORT == 587
    assert settings.SMTP_SECURITY == "starttls"
    assert settings.MAIL_FROM == "API starter <no-reply@localhost>"
    # Locally, without SMTP_HOST, mail goes to the log.
    assert settings.backend == "console"
    assert not settings.delivers
    assert mail_settings(SMTP_HOST="smtp.example.com").backend == "smtp"
    assert mail_settings(SMTP_HOST="smtp.example.com").delivers
    assert mail_settings(SMTP_HOST="smtp.example.com", MAIL_BACKEND="file").backend == "file"


def test_the_smtp_password_is_never_shown() -> None:
    settings = mail_settings(SMTP_HOST="smtp.example.com", SMTP_PASSWORD=SMTP_SECRET)
    assert SMTP_SECRET not in repr(settings)
    assert SMTP_SECRET not in str(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAIL_BACKEND", "sendmail"),
        ("SMTP_SECURITY", "ssl"),
        ("SMTP_PORT", "0"),
        ("SMTP_PORT", "70000"),
        ("SMTP_TIMEOUT_SECONDS", "0"),
    ],
)
def test_bad_mail_values_are_reported_by_name(name: str, value: str) -> None:
    assert name in refusal(**{name: value})


def test_smtp_backend_without_a_host_is_a_config_error() -> None:
    """MAIL_BACKEND=smtp with nowhere to send: refused with the other configuration errors,
    not discovered when the first message is sent."""
    message = refusal(MAIL_BACKEND="smtp")
    assert "MAIL_BACKEND=smtp needs SMTP_HOST" in message
    assert "SMTP_PASSWORD" not in message


def test_serve_with_an_smtp_backend_and_no_host_refuses_in_one_line(tmp_path: Path) -> None:
    """One `error: ...` line and exit code 2, as for any other bad setting: the server does
    not start (the database is migrated, so only the mail settings can stop it)."""
    migrated = run_app("migrate", cwd=tmp_path, env=clean_env(), timeout=60)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    env = clean_env(MAIL_BACKEND="smtp", SMTP_PASSWORD=SMTP_SECRET)
    result = run_app("serve", "--port", str(free_port()), cwd=tmp_path, env=env, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: invalid configuration"), output
    assert "SMTP_HOST" in lines[0], output
    assert SMTP_SECRET not in output
