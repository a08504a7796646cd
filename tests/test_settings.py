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
)
GOOD_KEY = "k" * 64
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": GOOD_KEY,
    "ADMIN_PASSWORD": "A-real-admin-password-1",
    "ALLOWED_HOSTS": "app.example.com",
    "DATABASE_URL": "postgresql://app:pw@db:5432/app",
    "REDIS_URL": "redis://redis:6379/0",
}


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


def test_env_example_documents_every_setting() -> None:
    """The core's settings, and each feature's in a section that names its package, as
    `# ------------- mail (src/app/mail) -------------`: the sections of a removed feature
    stay, and are the only ones whose names nothing reads."""
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

    by_package: dict[str | None, list[str]] = {}
    package: str | None = None
    for line in app_part.splitlines():
        if line.startswith("# ------------- "):
            found = re.search(r"\(src/app/(\w+)\)", line)
            package = found.group(1) if found else None
        by_package.setdefault(package, []).append(line)
    documented = {owner: names("\n".join(lines)) for owner, lines in by_package.items()}
    assert documented.pop(None) == set(Settings.model_fields)
    for feature in feature_settings():
        package = feature.__module__.split(".")[1]
        assert documented.pop(package, set()) == set(feature.model_fields), package
    for removed in documented:
        assert removed is not None
        assert not (root / "src" / "app" / removed).exists(), f"{removed} has no settings"
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
