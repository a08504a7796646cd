from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.config import DEFAULT_ADMIN_PASSWORD, DEFAULT_SECRET_KEY, ConfigError, load_settings
from tests.helpers.processes import clean_env, free_port, run_app

SETTING_NAMES = (
    "DATABASE_URL",
    "REDIS_URL",
    "POSTGRES_SERVER",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PORT",
    "REDIS_CACHE_HOST",
    "REDIS_QUEUE_HOST",
    "REDIS_RATE_LIMIT_HOST",
    "SECRET_KEY",
    "ENVIRONMENT",
    "ADMIN_PASSWORD",
    "ALLOWED_HOSTS",
    "PUBLIC_BASE_URL",
    "VERIFY_EMAIL_PATH",
    "PASSWORD_RESET_PATH",
    "EMAIL_VERIFICATION_ENABLED",
    "PASSWORD_RESET_ENABLED",
    "REQUIRE_VERIFIED_EMAIL",
    "MAIL_BACKEND",
    "MAIL_FROM",
    "SMTP_HOST",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_SECURITY",
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


def test_no_configuration_is_the_embedded_default() -> None:
    settings = load_settings()
    assert settings.ENVIRONMENT == "local"
    assert settings.is_sqlite
    assert settings.is_embedded
    assert settings.cache_redis_url is None
    assert settings.secret_key == DEFAULT_SECRET_KEY


def test_template_variable_names_build_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_SERVER", "db")
    monkeypatch.setenv("POSTGRES_USER", "app")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss")
    monkeypatch.setenv("POSTGRES_PORT", "5433")
    monkeypatch.setenv("POSTGRES_DB", "appdb")
    url = load_settings().database_url
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db",
        5433,
        "app",
        "p@ss",
        "appdb",
    )


def test_simple_database_url_gets_an_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    assert load_settings().database_url.drivername == "postgresql+asyncpg"
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    assert load_settings().database_url.drivername == "sqlite+aiosqlite"


def test_redis_url_serves_every_use_and_hosts_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://shared:6379/0")
    monkeypatch.setenv("REDIS_QUEUE_HOST", "queue")
    settings = load_settings()
    assert settings.cache_redis_url == "redis://shared:6379/0"
    assert settings.rate_limit_redis_url == "redis://shared:6379/0"
    assert settings.queue_redis_url == "redis://queue:6379/0"


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('APP_NAME="From dotenv"\nACCESS_TOKEN_EXPIRE_MINUTES=5\n')
    settings = load_settings()
    assert settings.APP_NAME == "From dotenv"
    assert settings.ACCESS_TOKEN_EXPIRE_MINUTES == 5


def test_production_with_real_values_is_accepted() -> None:
    settings = load_settings(**PRODUCTION)
    assert not settings.is_embedded
    assert not settings.is_local


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is missing or the default"),
        ({"SECRET_KEY": DEFAULT_SECRET_KEY}, "SECRET_KEY is missing or the default"),
        ({"SECRET_KEY": "short"}, "at least 32 characters"),
        ({"ADMIN_PASSWORD": DEFAULT_ADMIN_PASSWORD}, "ADMIN_PASSWORD is the default"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS is missing"),
        ({"DATABASE_URL": None}, "embedded SQLite database"),
        ({"REDIS_URL": None}, "in-process cache, queue and rate limits"),
    ],
)
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_outside_local_insecure_defaults_are_refused(
    environment: str, change: dict[str, str | None], message: str
) -> None:
    values = {**PRODUCTION, "ENVIRONMENT": environment, **change}
    with pytest.raises(ConfigError) as caught:
        load_settings(**{k: v for k, v in values.items() if v is not None})
    assert message in str(caught.value)
    assert GOOD_KEY not in str(caught.value)


def test_bad_values_are_reported_by_name() -> None:
    with pytest.raises(ConfigError, match="ALGORITHM"):
        load_settings(ALGORITHM="none")
    with pytest.raises(ConfigError, match="ENVIRONMENT"):
        load_settings(ENVIRONMENT="prod")


# --- account mail: SMTP and the links' base URL ------------------------------------------


def production(**change: object) -> dict[str, object]:
    """The production values with some replaced (None: left out)."""
    values = {**PRODUCTION, **change}
    return {name: value for name, value in values.items() if value is not None}


def refusal(**values: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**values)
    message = str(caught.value)
    for secret in (GOOD_KEY, SMTP_SECRET, "A-real-admin-password-1"):
        assert secret not in message
    return message


def test_mail_defaults() -> None:
    settings = load_settings()
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
    assert settings.SMTP_PORT == 587
    assert settings.SMTP_SECURITY == "starttls"
    # Locally, without SMTP_HOST, mail goes to the log.
    assert settings.mail_backend == "console"
    assert load_settings(SMTP_HOST="smtp.example.com").mail_backend == "smtp"
    assert load_settings(SMTP_HOST="smtp.example.com", MAIL_BACKEND="file").mail_backend == "file"


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
    assert load_settings(**production(MAIL_BACKEND="smtp")).mail_backend == "smtp"


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
    settings = load_settings(
        **production(
            ENVIRONMENT="staging",
            SMTP_USER="mailer",
            SMTP_PASSWORD=SMTP_SECRET,
            SMTP_SECURITY="tls",
            SMTP_PORT=465,
            REQUIRE_VERIFIED_EMAIL=True,
        )
    )
    assert settings.mail_backend == "smtp"
    assert settings.PUBLIC_BASE_URL == "https://app.example.com"
    assert SMTP_SECRET not in repr(settings)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_turning_both_mail_features_off_removes_the_requirement(environment: str) -> None:
    settings = load_settings(
        **production(ENVIRONMENT=environment, SMTP_HOST=None, PUBLIC_BASE_URL=None, **MAIL_OFF)
    )
    assert not settings.sends_mail
    assert settings.mail_backend == "console"  # never used: nothing sends mail


def test_mail_settings_from_the_environment_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a deployment sets them: environment variables (strings) rather than arguments."""
    for name, value in production(SMTP_HOST=None, PUBLIC_BASE_URL=None).items():
        monkeypatch.setenv(name, str(value))
    assert NEEDS_BASE_URL in refusal()
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://app.example.com/")
    assert load_settings().PUBLIC_BASE_URL == "https://app.example.com"
    # An empty value is no value (compose passes unset variables as empty strings).
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    assert NEEDS_BASE_URL in refusal()
    monkeypatch.delenv("PUBLIC_BASE_URL")
    monkeypatch.setenv("EMAIL_VERIFICATION_ENABLED", "false")
    monkeypatch.setenv("PASSWORD_RESET_ENABLED", "false")
    assert not load_settings().sends_mail


def test_env_example_for_production_asks_for_the_public_base_url(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / ".env.example"
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
    kept = load_settings(PUBLIC_BASE_URL=value).PUBLIC_BASE_URL
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
        ("MAIL_BACKEND", "sendmail"),
        ("SMTP_SECURITY", "ssl"),
        ("SMTP_PORT", "0"),
        ("SMTP_PORT", "70000"),
        ("SMTP_TIMEOUT_SECONDS", "0"),
        ("EMAIL_VERIFICATION_EXPIRE_HOURS", "0"),
        ("PASSWORD_RESET_EXPIRE_MINUTES", "1"),
        ("MAIL_RATE_LIMIT_LIMIT", "0"),
        ("MAIL_ADDRESS_RATE_LIMIT_PERIOD", "0"),
        ("EMAIL_VERIFICATION_ENABLED", "perhaps"),
    ],
)
def test_bad_mail_values_are_reported_by_name(name: str, value: str) -> None:
    assert name in refusal(**{name: value})


def test_smtp_backend_without_a_host_is_a_config_error() -> None:
    """MAIL_BACKEND=smtp with nowhere to send: refused with the other configuration errors,
    not discovered when the server starts."""
    message = refusal(MAIL_BACKEND="smtp")
    assert "SMTP_HOST" in message
    assert "SMTP_HOST" in refusal(**production(MAIL_BACKEND="smtp", SMTP_HOST=None, **MAIL_OFF))


def test_production_with_default_secret_refuses_to_start(tmp_path: Path) -> None:
    result = run_app(
        "serve",
        "--port",
        str(free_port()),
        cwd=tmp_path,
        env=clean_env(ENVIRONMENT="production"),
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is missing or the default" in result.stderr
    assert "Traceback" not in result.stderr


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
        ({"MAIL_BACKEND": "smtp"}, ["invalid configuration", "SMTP_HOST"]),
        ({"PUBLIC_BASE_URL": "app.example.com"}, ["invalid configuration", "PUBLIC_BASE_URL"]),
    ],
    ids=["production-without-smtp", "production-without-base-url", "smtp-no-host", "bad-url"],
)
def test_serve_with_unusable_mail_settings_refuses_in_one_line(
    tmp_path: Path, settings: dict[str, str | None], needles: list[str]
) -> None:
    """One `error: ...` line and exit code 2, as for any other bad setting: the server does
    not start (the embedded cases have a migrated database, so only the mail settings can
    stop them; the production ones name a database host that does not exist)."""
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


def test_env_example_documents_every_setting() -> None:
    from app.core.config import Settings
    from app.domains import feature_settings

    root = Path(__file__).parents[1]
    app_part, _, compose_part = (
        (root / ".env.example").read_text().partition("# ------------- docker compose only")
    )

    def names(text: str) -> set[str]:
        return {
            line.split("=", 1)[0].strip()
            for line in text.splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        }

    # A feature's settings have a section of their own, headed with the file that declares
    # them: `# ------------- tasks, ... (src/app/tasks/settings.py) ---`. Once the feature is
    # removed, its section documents what nothing reads, which the app ignores.
    sections = re.split(r"^(# -------------.*)$", app_part, flags=re.MULTILINE)
    core: set[str] = names(sections[0])
    features: dict[str, set[str]] = {}
    for header, body in zip(sections[1::2], sections[2::2], strict=True):
        owner = re.search(r"\(src/app/(\w+)/settings\.py\)", header)
        if owner:
            features[owner[1]] = names(body)
        else:
            core |= names(body)
    assert core == set(Settings.model_fields)
    installed = {cls.__module__.split(".")[1]: set(cls.model_fields) for cls in feature_settings()}
    for package, declared in installed.items():
        assert features.get(package) == declared, package
    for documented in features.values():
        assert not documented & core
    # The compose-only part holds what docker-compose.yml reads and the app does not.
    compose_only = names(compose_part)
    assert compose_only, "the docker compose section of .env.example is missing"
    assert not compose_only & set(Settings.model_fields)
    compose_file = (root / "docker-compose.yml").read_text()
    for name in compose_only:
        assert f"${{{name}:-" in compose_file, f"docker-compose.yml does not read {name}"


def test_env_example_copied_as_is_is_a_valid_local_configuration(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    settings = load_settings()
    assert settings.is_sqlite
    assert settings.ADMIN_PASSWORD.get_secret_value() == DEFAULT_ADMIN_PASSWORD
    with pytest.raises(ConfigError, match="ADMIN_PASSWORD is the default"):
        load_settings(ENVIRONMENT="production")


def test_allowed_hosts_are_host_names() -> None:
    for bad in ("https://api.example.com", "api.example.com:443", "a b", "*example.com"):
        with pytest.raises(ConfigError, match="not a host name"):
            load_settings(**{**PRODUCTION, "ALLOWED_HOSTS": bad})
    settings = load_settings(**{**PRODUCTION, "ALLOWED_HOSTS": " API.example.com , *.example.org "})
    assert settings.allowed_hosts == frozenset({"api.example.com", "*.example.org"})
    assert load_settings(**{**PRODUCTION, "ALLOWED_HOSTS": "*"}).allowed_hosts is None
    assert load_settings(ALLOWED_HOSTS="api.example.com").allowed_hosts is None  # local: any
