"""The OpenAPI schema tells the truth: Schemathesis runs every operation of the real server
(`app serve` on a fresh PostgreSQL database and the run's Redis), as a normal user, as a
superuser, and with a normal user's API key (which the account's own operations refuse with a
documented 403), with every check it has, and finds no server error and no response that the
schema does not document (status, content type, body, headers, `Allow`).

Each run is bounded: a fixed seed, CONFORMANCE_MAX_EXAMPLES examples per operation and phase
(default 10), one worker, and a hard timeout. Set CONFORMANCE_SEED to explore with another seed
(a failure prints the seed and a curl command for each failing case).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers.database import create_database, drop_database, migrate
from tests.helpers.processes import APP, BIN, Process, clean_env, free_port, run_app
from tests.helpers.settings import CHEAP_HASHING, PASSWORD, TEST_REDIS_URL, TEST_SECRET_KEY

# One worker runs the whole module: its tests share what a module fixture starts.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("conformance")]

SCHEMATHESIS = str(BIN / "schemathesis")
ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0
RUN_TIMEOUT_SECONDS = 600
SEED = int(os.environ.get("CONFORMANCE_SEED", "20261202"))
MAX_EXAMPLES = int(os.environ.get("CONFORMANCE_MAX_EXAMPLES", "10"))


@dataclass
class Identity:
    username: str
    superuser: bool
    token: str = ""


def _app_env(database_url: str) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=TEST_REDIS_URL,
        SECRET_KEY=TEST_SECRET_KEY,
        ENVIRONMENT="local",  # serves /openapi.json
        LOG_LEVEL="WARNING",
        DEFAULT_RATE_LIMIT_LIMIT=1_000_000,
        DEFAULT_RATE_LIMIT_PERIOD=3600,
        LOGIN_RATE_LIMIT_LIMIT=1_000_000,
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=1_000_000,
        CACHE_WRITE_FENCE_SECONDS=1,
        # The run signs up and signs in often.
        **CHEAP_HASHING,
    )


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    process: Process

    def log_tail(self, chars: int = 6000) -> str:
        return self.process.log()[-chars:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`app serve` on a fresh, migrated PostgreSQL database (dropped afterwards)."""
    database_url = asyncio.run(create_database())
    workdir = tmp_path_factory.mktemp("conformance")
    try:
        migrate(database_url)
        env = _app_env(database_url)
        port = free_port()
        argv = [APP, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with Process("serve", argv, cwd=workdir, env=env) as process:
            base_url = f"http://127.0.0.1:{port}"
            process.wait_for_http(f"{base_url}/health", timeout=STARTUP_SECONDS)
            yield Server(base_url, env, process)
    finally:
        asyncio.run(drop_database(database_url))


def _login(server: Server, username: str) -> str:
    response = httpx.post(
        f"{server.base_url}/api/v1/login",
        data={"username": username, "password": PASSWORD},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _create_identity(server: Server, *, superuser: bool, username: str) -> Identity:
    email = f"{username}@example.com"
    if superuser:
        result = run_app(
            "create-superuser",
            "--username",
            username,
            "--email",
            email,
            cwd=server.process.log_path.parent,
            env={**server.env, "ADMIN_PASSWORD": PASSWORD},
        )
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        body = {"name": "Conformance User", "username": username, "email": email}
        response = httpx.post(
            f"{server.base_url}/api/v1/user", json={**body, "password": PASSWORD}, timeout=30
        )
        assert response.status_code == 201, response.text
    return Identity(username, superuser, _login(server, username))


@pytest.mark.parametrize(
    ("superuser", "credential"),
    [(False, "token"), (True, "token"), (False, "key")],
    ids=["user", "superuser", "user-api-key"],
)
def test_the_schema_documents_every_response(
    server: Server, superuser: bool, credential: str, tmp_path: Path
) -> None:
    username = "stadmin" if superuser else f"st{credential}user"
    identity = _create_identity(server, superuser=superuser, username=username)
    config = tmp_path / "schemathesis.toml"
    # Schemathesis' defaults (not a schemathesis.toml found around), but for the operations
    # that take a secret: a link token or a current password that fits the schema yet is not
    # the right one is a 400 (valid in form, wrong in fact), as a wrong login is a 401. And
    # role names given to a user that fit the schema yet name no role, or an API key's expiry
    # that is already past, are a 422.
    config.write_text(
        "[[operations]]\n"
        'include-path-regex = "/(verify-email|password-reset/confirm|user/me/password)$"\n'
        "checks.positive_data_acceptance.expected-statuses = "
        '["2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"]\n'
        "\n[[operations]]\n"
        'include-path-regex = "/user/(.+/roles|me/api-keys)$"\n'
        "checks.positive_data_acceptance.expected-statuses = "
        '["2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"]\n'
    )
    env = {
        **os.environ,
        # The bearer token (renewed after a logout, a rename or a deletion).
        "SCHEMATHESIS_HOOKS": "tests.helpers.conformance_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "CONFORMANCE_BASE_URL": server.base_url,
        "CONFORMANCE_USERNAME": identity.username,
        "CONFORMANCE_PASSWORD": PASSWORD,
        "CONFORMANCE_TOKEN": identity.token,
        "CONFORMANCE_SUPERUSER": "1" if identity.superuser else "0",
        "CONFORMANCE_CREDENTIAL": credential,
        "CONFORMANCE_APP": APP,
        # For `app create-superuser`, when the superuser has to be made anew.
        **{key: value for key, value in server.env.items() if key not in ("PATH", "HOME")},
    }
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks=all",
        # Its probes strip the credentials of apiKey and http schemes but not an OAuth2
        # bearer token, which a token run's every probe would still carry: it is meaningful
        # only in the API key run (an `X-API-Key` the probes do strip).
        *(["--exclude-checks=ignored_auth"] if credential == "token" else []),
        "--phases=examples,coverage,fuzzing,stateful",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        # One worker: several threads in one process trip a CPython 3.11 bug in `ast`
        # (gh-106905, "AST constructor recursion depth mismatch") inside Hypothesis.
        "--workers=1",
        "--generation-database=none",
        "--request-timeout=30",
        "--no-color",
        "--output-truncate=false",
    ]
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    elapsed = time.monotonic() - started
    report = result.stdout + result.stderr
    who = ("superuser" if superuser else "user") + (
        " with an API key" if credential == "key" else ""
    )
    print(f"schemathesis ({who}): {elapsed:.0f} s\n{report}")
    assert result.returncode == 0, f"{report}\n----- server log -----\n{server.log_tail()}"
    server_errors = [line for line in server.log_tail(10**7).splitlines() if "unhandled" in line]
    assert not server_errors, "\n".join(server_errors)
