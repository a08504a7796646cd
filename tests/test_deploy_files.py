"""The deployment files, checked without a Docker engine: docker-compose.yml (its structure,
and the Compose Specification's JSON schema through check-jsonschema), the Dockerfile, the
.dockerignore, and the nginx configurations (`nginx -t`).

nginx comes from Debian's package: when it is missing and the tests run as root (CI, a fresh
machine of this project), `nginx_binary()` (tests/helpers/deploy.py) installs it with apt-get;
otherwise the test fails and says how to install it.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.helpers.deploy import NGINX_LOCAL_TEMPLATE, fill_local_template, nginx_binary

# nginx -t and the Compose schema check (nginx installed when missing): the slower legs.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_DIR = ROOT / "deploy" / "nginx"
NGINX_COMPOSE_CONF = NGINX_DIR / "default.conf"

APP_SERVICES = ("web", "worker", "migrate", "create-superuser", "create-tier")
ONE_SHOTS = ("migrate", "create-superuser", "create-tier")
CHECK_COMPOSE_SCHEMA = (
    sys.executable,
    "-m",
    "check_jsonschema",
    "--builtin-schema",
    "vendor.compose-spec",
)


# ------------------------------------------------------------------------------------ helpers


def env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match:
            names.add(match.group(1))
    return names


@functools.cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def service(name: str) -> dict[str, Any]:
    services = compose().get("services", {})
    assert name in services, f"docker-compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either of Compose's two forms."""
    raw = definition.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return dict(pairs)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def env_files(definition: dict[str, Any]) -> list[str]:
    raw = definition.get("env_file") or []
    items = [raw] if isinstance(raw, str | dict) else list(raw)
    return [item["path"] if isinstance(item, dict) else item for item in items]


def depends_on(definition: dict[str, Any]) -> dict[str, str]:
    """{dependency: condition}; the short (list) form means service_started."""
    raw = definition.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def command_words(definition: dict[str, Any]) -> list[str]:
    raw = definition.get("command") or []
    return raw.split() if isinstance(raw, str) else [str(word) for word in raw]


def healthcheck_text(definition: dict[str, Any]) -> str:
    test = (definition.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(word) for word in test)


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def interpolated_names(text: str) -> set[str]:
    """Variables Compose substitutes in `text`: ${NAME...} and $NAME, but not the escaped $$."""
    text = text.replace("$$", "")
    braced = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)
    bare = re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text)
    return set(braced) | set(bare)


def duration_seconds(value: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts, f"not a Compose duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage; the global ARGs before the first FROM are dropped."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, arguments))
    return stages


def resolve_from(arguments: str) -> str:
    """The image of a FROM line, with the global ARG defaults substituted."""
    defaults: dict[str, str] = {}
    for keyword, value in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in value:
            name, default = value.split("=", 1)
            defaults[name.strip()] = default.strip().strip("\"'")
    image = arguments.split()[0]
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: defaults[m.group(1)], image)


# ------------------------------------------------------------------------- docker-compose.yml


def test_compose_has_every_service_with_its_profile() -> None:
    services = compose()["services"]
    expected = {"web", "worker", "db", "redis", "migrate", "create-superuser", "create-tier"}
    expected |= {"nginx", "pgadmin"}
    assert expected <= set(services), f"missing services: {expected - set(services)}"
    profiles = {name: definition.get("profiles") or [] for name, definition in services.items()}
    for name in ("web", "worker", "db", "redis", "migrate"):
        assert profiles[name] == [], f"{name} must start by default, not behind a profile"
    assert "setup" in profiles["create-superuser"]
    assert "setup" in profiles["create-tier"]
    assert "nginx" in profiles["nginx"]
    assert "pgadmin" in profiles["pgadmin"]


def test_app_services_run_the_right_commands() -> None:
    assert command_words(service("worker")) == ["app", "worker"]
    migrate = command_words(service("migrate"))
    assert migrate[:3] == ["app", "migrate", "--wait"], migrate
    assert float(migrate[3]) > 0, "migrate must wait for a database that is still starting"
    assert command_words(service("create-superuser")) == ["app", "create-superuser"]
    assert command_words(service("create-tier")) == ["app", "create-tier"]
    # web keeps the image's CMD (app serve ... --workers ${WEB_CONCURRENCY:-2}), or says so.
    web_command = command_words(service("web"))
    assert web_command == [] or web_command[:2] == ["app", "serve"]


def test_the_image_is_built_once_by_the_service_everything_waits_for() -> None:
    builders = [name for name, d in compose()["services"].items() if d.get("build")]
    assert builders == ["migrate"], f"exactly one service builds the app image: {builders}"
    image = service("migrate").get("image")
    assert image, "the built image needs a tag for the other services to run"
    for name in APP_SERVICES:
        definition = service(name)
        assert definition.get("image") == image, f"{name} must run the image migrate builds"
        if name != "migrate":
            assert definition.get("pull_policy") == "never", f"{name} would try to pull {image}"
            conditions = depends_on(definition)
            assert "migrate" in conditions, f"{name} may start before the image is built"


def test_nothing_runs_with_reload() -> None:
    for name, definition in compose()["services"].items():
        for text in strings_in(definition):
            assert "--reload" not in text, f"{name} runs with --reload: {text!r}"


def test_app_services_read_env_file_and_reach_db_and_redis_by_service_name() -> None:
    known = env_example_names()
    for name in APP_SERVICES:
        definition = service(name)
        assert ".env" in env_files(definition), f"{name} must read its settings from .env"
        env = environment(definition)
        # Every override is a real setting (catches misspelt names).
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables that .env.example lacks: {unknown}"
        if env.get("DATABASE_URL"):
            assert "@db:" in env["DATABASE_URL"] or "@db/" in env["DATABASE_URL"], env
        else:
            assert "DATABASE_URL" in env, (
                f"{name}: blank DATABASE_URL so that a value in .env cannot win over POSTGRES_*"
            )
            assert env.get("POSTGRES_SERVER") == "db", f"{name} must use the db service: {env}"
        assert re.match(r"^redis://redis(:6379)?(/\d+)?$", env.get("REDIS_URL", "")), (
            f"{name} must use the redis service: {env.get('REDIS_URL')!r}"
        )
        for use in ("CACHE", "QUEUE", "RATE_LIMIT"):
            host = env.get(f"REDIS_{use}_HOST", "")
            assert host in ("", "redis"), f"{name}: REDIS_{use}_HOST={host!r} bypasses redis"


def test_db_and_app_agree_on_the_database_credentials() -> None:
    db_env = environment(service("db"))
    for name in APP_SERVICES:
        env = environment(service(name))
        for variable in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
            if variable in env or variable in db_env:
                assert env.get(variable) == db_env.get(variable), (
                    f"{name} and db disagree on {variable}: {env.get(variable)!r} "
                    f"!= {db_env.get(variable)!r}"
                )


def test_compose_references_only_variables_documented_in_env_example() -> None:
    names: set[str] = set()
    for text in strings_in(compose()):
        names |= interpolated_names(text)
    missing = names - env_example_names()
    assert not missing, f"docker-compose.yml uses variables missing from .env.example: {missing}"


def test_env_files_exist_or_have_an_example() -> None:
    for name, definition in compose()["services"].items():
        for path in env_files(definition):
            file = ROOT / path
            assert file.exists() or file.with_name(file.name + ".example").exists(), (
                f"{name} reads {path}, which has no {path}.example to copy from"
            )


def test_start_order_waits_for_health_and_migrations() -> None:
    for name in ("web", "worker"):
        conditions = depends_on(service(name))
        assert conditions.get("migrate") == "service_completed_successfully", (name, conditions)
        assert conditions.get("redis") == "service_healthy", (name, conditions)
    assert depends_on(service("migrate")).get("db") == "service_healthy"
    for name in ("create-superuser", "create-tier"):
        assert depends_on(service(name)).get("migrate") == "service_completed_successfully"
    assert depends_on(service("nginx")).get("web") == "service_healthy"
    for name in ONE_SHOTS:
        assert str(service(name).get("restart", "no")) == "no", f"{name} is a one-shot"


def test_healthchecks() -> None:
    web = healthcheck_text(service("web"))
    assert "/health" in web, f"web must probe /health: {web!r}"
    for tool in ("curl", "wget"):
        assert tool not in web, f"the slim image has no {tool}"
    assert "pg_isready" in healthcheck_text(service("db"))
    assert "redis-cli" in healthcheck_text(service("redis"))
    assert "ping" in healthcheck_text(service("redis"))
    # The image's HEALTHCHECK probes the web server: a container that does not run it has a
    # check of its own that is true for it (`up --wait` refuses a disabled one).
    for name in ("worker", *ONE_SHOTS):
        check = service(name).get("healthcheck") or {}
        assert check.get("disable") is not True, name
        assert check.get("test"), name
    heartbeat = environment(service("worker")).get("WORKER_HEARTBEAT_FILE", "")
    assert heartbeat.startswith("/tmp/"), "the heartbeat belongs in the tmpfs"  # noqa: S108
    assert heartbeat in healthcheck_text(service("worker"))
    assert "127.0.0.1" in healthcheck_text(service("db")), "check PostgreSQL over TCP"
    # nginx's published port accepts before nginx listens: `up --wait` must wait for it.
    assert "/dev/tcp/127.0.0.1/80" in healthcheck_text(service("nginx"))


def test_app_containers_are_read_only_but_for_tmp() -> None:
    for name in APP_SERVICES:
        definition = service(name)
        assert definition.get("read_only") is True, name
        assert "/tmp" in (definition.get("tmpfs") or []), name  # noqa: S108


def test_images_and_named_volumes() -> None:
    assert str(service("db")["image"]).startswith("postgres:15")
    assert str(service("redis")["image"]).startswith("redis:7")
    assert str(service("nginx")["image"]).startswith("nginx")
    volumes = compose().get("volumes") or {}
    db_volumes = [str(v).split(":")[0] for v in service("db").get("volumes", [])]
    assert any(source in volumes for source in db_volumes), (
        f"db must keep its data in a named volume: {db_volumes}"
    )
    assert any(
        str(v).endswith(":/var/lib/postgresql/data") for v in service("db").get("volumes", [])
    )


def test_graceful_stop_periods() -> None:
    web = service("web")
    worker = service("worker")
    assert "stop_grace_period" in web, "web needs time to finish in-flight requests"
    assert "stop_grace_period" in worker, "the worker needs time to finish running jobs"
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    )
    job_grace = float(example.get("WORKER_SHUTDOWN_GRACE_SECONDS") or 30)
    assert duration_seconds(worker["stop_grace_period"]) > job_grace, (
        "the worker's stop_grace_period must exceed WORKER_SHUTDOWN_GRACE_SECONDS, or running "
        "jobs are killed instead of handed back"
    )
    assert duration_seconds(web["stop_grace_period"]) >= 15


def test_nginx_service_mounts_the_repository_config_and_publishes_80() -> None:
    nginx = service("nginx")
    mounts = [str(v) for v in nginx.get("volumes", [])]
    sources = [mount.split(":")[0] for mount in mounts]
    assert "./deploy/nginx" in sources or "./deploy/nginx/" in sources, mounts
    assert (ROOT / "deploy" / "nginx").is_dir()
    mount = next(m for m in mounts if m.split(":")[0].rstrip("/") == "./deploy/nginx")
    assert mount.split(":")[1].rstrip("/") == "/etc/nginx/conf.d", mount
    assert mount.endswith(":ro"), "mount the nginx configuration read-only"
    # Every *.conf of the directory is loaded by the image: only the intended one is there.
    assert sorted(p.name for p in NGINX_DIR.glob("*.conf")) == ["default.conf"]
    ports = [str(p) for p in nginx.get("ports", [])]
    assert any(p.split(":")[-1] == "80" for p in ports), ports


def test_trusted_proxies_names_only_nginx() -> None:
    nginx_networks = service("nginx").get("networks") or {}
    addresses = [
        (spec or {}).get("ipv4_address")
        for spec in (nginx_networks.values() if isinstance(nginx_networks, dict) else [])
    ]
    addresses = [a for a in addresses if a]
    assert addresses, "nginx needs a fixed address for TRUSTED_PROXIES to name"
    for name in ("web", "worker"):
        trusted = environment(service(name)).get("TRUSTED_PROXIES", "")
        entries = [entry.strip() for entry in trusted.split(",") if entry.strip()]
        assert entries, f"{name} must trust nginx's X-Forwarded-For"
        for entry in entries:
            network = ipaddress.ip_network(entry, strict=False)
            assert network.num_addresses == 1, f"{name} trusts a whole range: {entry}"
            assert str(network.network_address) in addresses, (entry, addresses)


def test_compose_file_matches_the_compose_specification() -> None:
    """The real schema (check-jsonschema ships the Compose Specification's), offline."""
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail(
            "check-jsonschema is not installed: it is a dev dependency (pyproject.toml), "
            "run `make install`"
        )
    result = subprocess.run(
        [*CHECK_COMPOSE_SCHEMA, str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_the_compose_schema_check_catches_mistakes(tmp_path: Path) -> None:
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is not installed: run `make install`")
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  web:\n    image: x\n    depends_on:\n"
        "      db:\n        condition: service_finished\n  db:\n    image: y\n"
    )
    result = subprocess.run(
        [*CHECK_COMPOSE_SCHEMA, str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, result.stdout


# --------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "build the venv in one stage, run from another"
    for stage in stages:
        image = resolve_from(stage[0][1])
        assert re.match(r"^python:3\.11(\.\d+)?-slim", image), image
    build_runs = " ".join(args for stage in stages[:-1] for kw, args in stage if kw == "RUN")
    assert re.search(r"uv sync\b[^&;]*--frozen", build_runs), "uv sync --frozen"
    assert re.search(r"uv sync\b[^&;]*--no-dev", build_runs), "uv sync --no-dev"


def test_dockerfile_final_stage_holds_only_the_venv_and_src() -> None:
    final = dockerfile_stages()[-1]
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert copies, "the final stage copies the venv and the source"
    sources: set[str] = set()
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        assert "--from=" in args, f"the final stage copies from the build stage only: {args}"
        sources.update(Path(w).name for w in words[:-1])
    assert sources == {".venv", "src"}, sources
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert "uv" not in re.findall(r"[\w.-]+", runs), "no uv in the final stage"
    for tool in ("pytest", "mypy", "ruff"):
        assert tool not in runs


def test_dockerfile_runs_unprivileged_without_reload() -> None:
    final = dockerfile_stages()[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"runs as {user}"
    for keyword, args in dockerfile_instructions():
        assert "--reload" not in args, f"{keyword} {args}"


def test_dockerfile_healthcheck_expose_and_cmd() -> None:
    final = dockerfile_stages()[-1]
    healthchecks = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    assert healthchecks, "HEALTHCHECK missing"
    check = healthchecks[-1]
    for needle in ("/health", "python", "urllib"):
        assert needle in check, check
    for tool in ("curl", "wget"):
        assert tool not in check, check
    exposed = [args for keyword, args in final if keyword == "EXPOSE"]
    assert any("8000" in args.split() for args in exposed), exposed
    cmds = [args for keyword, args in final if keyword == "CMD"]
    assert cmds, "CMD missing"
    cmd = cmds[-1]
    for needle in ("app serve", "--host 0.0.0.0", "--port 8000"):
        assert needle in cmd, cmd
    assert "${WEB_CONCURRENCY:-2}" in cmd, cmd
    if cmd.startswith("["):
        # An exec-form shell must exec the server, so that it receives SIGTERM itself.
        assert "exec app serve" in cmd, cmd


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".tools", ".git", ".env", "app.db", ".pytest_cache"):
        assert required in entries, f".dockerignore must list {required}"
    for needed in ("pyproject.toml", "uv.lock", "src", "README.md"):
        assert needed not in entries, f"the build needs {needed}"


# -------------------------------------------------------------------------------------- nginx


def test_nginx_configs_forward_headers_and_limit_bodies_like_the_app() -> None:
    example = ENV_EXAMPLE.read_text()
    match = re.search(r"^MAX_REQUEST_BODY_BYTES=(\d+)", example, re.MULTILINE)
    body_bytes = int(match.group(1)) if match else 1_048_576
    for path in (NGINX_COMPOSE_CONF, NGINX_LOCAL_TEMPLATE):
        text = path.read_text()
        size = re.search(r"client_max_body_size\s+(\d+)([kKmM]?);", text)
        assert size, f"{path.name}: client_max_body_size"
        factor = {"": 1, "k": 1024, "m": 1024 * 1024}[size.group(2).lower()]
        assert int(size.group(1)) * factor == body_bytes, f"{path.name}: {size.group(0)}"
        for needle in (
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_http_version 1.1;",
            'proxy_set_header Connection "";',
            "proxy_read_timeout",
            "proxy_connect_timeout",
        ):
            assert needle in text, f"{path.name} lacks {needle}"
        assert re.search(r"upstream \w+ \{[^}]*\bkeepalive \d+;", text), (
            f"{path.name}: keepalive to the upstream"
        )
    assert re.search(r"^\s*server web:8000\b", NGINX_COMPOSE_CONF.read_text(), re.MULTILINE)


def test_nginx_configs_keep_the_metrics_from_the_public() -> None:
    # Prometheus scrapes the app servers directly; through nginx, /metrics does not exist.
    for path in (NGINX_COMPOSE_CONF, NGINX_LOCAL_TEMPLATE):
        block = re.search(r"location = /metrics \{(.*?)\n\s*\}\n", path.read_text(), re.DOTALL)
        assert block, f"{path.name} lacks `location = /metrics`"
        assert """return 404 '{"detail": "Not Found"}';""" in block.group(1), path.name
        assert "proxy_pass" not in block.group(1), path.name


def test_local_template_listens_on_loopback_and_keeps_its_files_in_the_prefix() -> None:
    text = fill_local_template(18080, [18001, 18002])
    left = re.findall(r"@[A-Z_]+@", re.sub(r"#.*", "", text))
    assert not left, f"placeholders left unfilled: {left}"
    listens = re.findall(r"^\s*listen\s+([^;]+);", text, re.MULTILINE)
    assert listens == ["127.0.0.1:18080"], listens
    for directive in (
        "pid",
        "error_log",
        "access_log",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
    ):
        found = re.search(rf"^\s*{directive}\s+(\S+)", text, re.MULTILINE)
        assert found, f"local template lacks {directive}"
        assert not found.group(1).startswith("/"), f"{directive} must be inside the prefix"
    for port in (18001, 18002):
        assert f"server 127.0.0.1:{port}" in text


def _nginx_test(prefix: Path, conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nginx_binary(), "-t", "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "e.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nginx_accepts_the_local_template(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(fill_local_template(18080, [18001, 18002]))
    result = _nginx_test(tmp_path, conf)
    assert result.returncode == 0, result.stderr


def test_nginx_accepts_the_compose_config(tmp_path: Path) -> None:
    """default.conf as the nginx image loads it (inside `http {}`); `web` resolves only on the
    compose network, so a loopback address stands in for it here."""
    (tmp_path / "conf.d").mkdir()
    text = NGINX_COMPOSE_CONF.read_text()
    assert "server web:8000" in text
    (tmp_path / "conf.d" / "default.conf").write_text(
        text.replace("server web:8000", "server 127.0.0.1:8000")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        "pid nginx.pid;\nerror_log error.log;\nevents {}\nhttp {\n"
        "    access_log off;\n"
        "    client_body_temp_path client_body_temp;\n    proxy_temp_path proxy_temp;\n"
        "    fastcgi_temp_path fastcgi_temp;\n    uwsgi_temp_path uwsgi_temp;\n"
        "    scgi_temp_path scgi_temp;\n"
        "    include conf.d/*.conf;\n}\n"
    )
    result = _nginx_test(tmp_path, main)
    assert result.returncode == 0, result.stderr
    # ... and a broken file is refused, so the check above means something.
    (tmp_path / "conf.d" / "default.conf").write_text(text.replace("proxy_pass", "proxy_passs"))
    assert _nginx_test(tmp_path, main).returncode != 0
