"""The production surface: health and readiness, docs per environment, request ids and logs,
the process model (pool budget, workers) and graceful shutdown."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.core.state import resources_of
from app.platform.logging import JsonFormatter, RequestIdFilter
from tests.helpers.http import (
    SUPERUSER,
    AppClientFactory,
    Headers,
    bearer,
    login,
    register,
    started_client,
)
from tests.helpers.processes import APP, Process, free_port
from tests.helpers.settings import (
    PASSWORD,
    TEST_REDIS_URL,
    TEST_SECRET_KEY,
    UNREACHABLE_DATABASE_URL,
    app_env,
    make_settings,
    unreachable_redis_url,
)

# What staging and production require. The SMTP server is never reached: the session's jobs
# wait in Redis, where no worker takes them.
STRONG = {
    "SECRET_KEY": TEST_SECRET_KEY,
    "ADMIN_PASSWORD": "Another-admin-pass-9",
    "SMTP_HOST": "smtp.invalid",
    "PUBLIC_BASE_URL": "https://app.example.com",
}


def basic(login_name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{login_name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- health and readiness --------------------------------------------------------------------


async def test_health_touches_nothing_and_is_never_cached() -> None:
    # Neither the database nor Redis exists here: /health still answers.
    settings = make_settings(UNREACHABLE_DATABASE_URL, REDIS_URL=unreachable_redis_url())
    async with started_client(settings) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "instance": f"{os.uname().nodename}:{os.getpid()}"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_when_everything_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok", "queue": "ok", "rate_limit": "ok"},
    }


async def test_ready_names_what_is_down(app_client: AppClientFactory) -> None:
    redis_down = {"REDIS_URL": unreachable_redis_url(), "REDIS_TIMEOUT_SECONDS": 0.5}
    async with app_client(**redis_down) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "Not ready: cache, queue, rate_limit unavailable"
    assert body["checks"]["database"] == "ok"
    assert response.headers["retry-after"]

    db_down = make_settings(UNREACHABLE_DATABASE_URL, DATABASE_POOL_TIMEOUT=1)
    async with started_client(db_down) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["detail"] == "Not ready: database unavailable"


# --- docs per environment --------------------------------------------------------------------

DOC_PATHS = ("/docs", "/redoc", "/openapi.json")


async def test_docs_are_open_in_local(client: httpx.AsyncClient) -> None:
    for path in DOC_PATHS:
        assert (await client.get(path)).status_code == 200, path
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/user/me/" in spec["paths"]


async def test_docs_are_absent_in_production(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    async with app_client(ENVIRONMENT="production", **STRONG) as client:
        for path in DOC_PATHS:
            assert (await client.get(path)).status_code == 404, path
            assert (await client.get(path, headers=superuser_headers)).status_code == 404, path


async def test_docs_in_staging_are_for_superusers_and_open_in_a_browser(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    root = SUPERUSER  # signed up by superuser_headers
    async with app_client(ENVIRONMENT="staging", **STRONG) as client:
        await register(client, "plain")
        for path in DOC_PATHS:
            anonymous = await client.get(path)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["www-authenticate"].startswith("Basic ")
            assert "detail" in anonymous.json()
            # A browser answers the Basic challenge with the superuser's login.
            assert (await client.get(path, headers=basic(root, PASSWORD))).status_code == 200
            by_email = basic(f"{root}@example.com", PASSWORD)
            assert (await client.get(path, headers=by_email)).status_code == 200
            wrong = await client.get(path, headers=basic(root, "wrong-password-1"))
            assert wrong.status_code == 401
            assert (await client.get(path, headers=basic("plain", PASSWORD))).status_code == 403
            assert (await client.get(path, headers=basic("ghost", PASSWORD))).status_code == 401
        assert (
            await client.get("/docs", headers={"Authorization": "Basic @@@"})
        ).status_code == 401
        no_colon = {"Authorization": "Basic " + base64.b64encode(root.encode()).decode()}
        assert (await client.get("/docs", headers=no_colon)).status_code == 401
        assert (await client.get("/openapi.json", headers=superuser_headers)).status_code == 200
        plain = await login(client, "plain")
        assert (await client.get("/openapi.json", headers=bearer(plain))).status_code == 403
        # The documented API itself is unchanged by the docs' guard.
        assert (await client.get("/api/v1/users")).status_code == 200


async def test_docs_basic_attempts_are_rate_limited(app_client: AppClientFactory) -> None:
    async with app_client(ENVIRONMENT="staging", LOGIN_RATE_LIMIT_LIMIT=2, **STRONG) as client:
        await register(client, "root")
        statuses = [
            (await client.get("/docs", headers=basic("root", f"guess-{n}-x"))).status_code
            for n in range(3)
        ]
    assert statuses == [401, 401, 429]


# --- request ids and logs --------------------------------------------------------------------


async def test_request_id_is_returned_and_tags_every_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    handler_filter = RequestIdFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO):
            given = await client.get(
                "/api/v1/users?secret=hunter2", headers={"X-Request-ID": "r-42"}
            )
            generated = await client.get("/health")
            spoofed = await client.get("/health", headers={"X-Request-ID": "bad id\r\nx: y"})
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert given.headers["x-request-id"] == "r-42"
    assert len(generated.headers["x-request-id"]) == 32
    assert spoofed.headers["x-request-id"] not in ("bad id\r\nx: y", "")
    access = [r for r in caplog.records if r.name == "app.access"]
    assert [(r.method, r.path, r.status) for r in access] == [  # type: ignore[attr-defined]
        ("GET", "/api/v1/users", 200),
        ("GET", "/health", 200),
        ("GET", "/health", 200),
    ]
    assert access[0].request_id == "r-42"  # type: ignore[attr-defined]
    assert access[1].request_id == generated.headers["x-request-id"]  # type: ignore[attr-defined]
    assert all(r.duration_ms >= 0 for r in access)  # type: ignore[attr-defined]
    # The text line names the client too (the compose test reads it through nginx).
    assert access[0].getMessage().endswith(f" from {access[0].client}")  # type: ignore[attr-defined]
    # (the test client's own log, not the app's, shows the full URL)
    assert not [
        r for r in caplog.records if r.name.startswith("app") and "hunter2" in r.getMessage()
    ]


async def test_login_logs_no_password_or_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await register(client, "alice")
        token = await login(client, "alice")
        await client.post("/api/v1/login", data={"username": "alice", "password": "Wrong-pass-7"})
    assert PASSWORD not in caplog.text
    assert "Wrong-pass-7" not in caplog.text
    assert token not in caplog.text


def test_json_log_lines() -> None:
    record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.request_id = "abc"
    record.status = 200
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x"
    assert line["request_id"] == "abc"
    assert line["status"] == 200
    assert line["level"] == "INFO"


@pytest.mark.slow
def test_served_logs_are_json_when_asked(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = app_env(database_url, LOG_FORMAT="json")
    with Process("serve", [APP, "serve", "--port", str(port)], cwd=tmp_path, env=env) as server:
        server.wait_for_http(f"{url}/health")
        answer = httpx.get(f"{url}/health", headers={"X-Request-ID": "json-1"})
        assert answer.status_code == 200
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access[-1]["request_id"] == "json-1"
    assert access[-1]["path"] == "/health"
    assert access[-1]["status"] == 200


# --- process model and shutdown --------------------------------------------------------------


def test_pool_budget_is_shared_by_the_workers(database_url: str) -> None:
    def limits(workers: int, **budget: int) -> tuple[int, int]:
        return make_settings(database_url, WEB_CONCURRENCY=workers, **budget).pool_limits()

    budget = {"DATABASE_MAX_CONNECTIONS": 20, "DATABASE_POOL_SIZE": 10, "DATABASE_MAX_OVERFLOW": 5}
    assert limits(1, **budget) == (10, 5)
    assert limits(2, **budget) == (10, 0)
    assert limits(4, **budget) == (5, 0)
    assert limits(3, **budget) == (6, 0)
    assert limits(8) == (20, 0)
    for workers in (1, 2, 3, 4, 8):
        size, overflow = limits(workers, **budget)
        assert workers * (size + overflow) <= 20


def test_serve_refuses_more_workers_than_connections(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("DATABASE_MAX_CONNECTIONS", "2")
    assert main(["serve", "--workers", "3"]) == 2
    assert "cannot give 3 workers" in capsys.readouterr().err
    assert main(["serve", "--workers", "0"]) == 2


async def test_an_exhausted_pool_waits_then_answers_503(app_client: AppClientFactory) -> None:
    pool = {"DATABASE_POOL_SIZE": 1, "DATABASE_MAX_OVERFLOW": 0, "DATABASE_POOL_TIMEOUT": 0.5}
    async with app_client(**pool) as client:
        engine = resources_of(client.app).engine
        async with engine.connect() as held:  # the only connection, taken
            await held.exec_driver_sql("SELECT 1")
            response = await client.get("/api/v1/users")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("Database unavailable")
        assert (await client.get("/api/v1/users")).status_code == 200


@pytest.mark.slow
async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = app_env(
        database_url,
        LOGIN_RATE_LIMIT_LIMIT=1000,
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=1000,
        # Slow hashing, so that the logins are still running when SIGTERM arrives.
        PASSWORD_HASH_TIME_COST=12,
    )
    argv = [APP, "serve", "--port", str(port), "--workers", "2"]
    with Process("serve", argv, cwd=tmp_path, env=env) as server:
        server.wait_for_http(f"{url}/health")
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            await register(client, "alice")
            attempts = [
                asyncio.create_task(
                    client.post("/api/v1/login", data={"username": "alice", "password": PASSWORD})
                )
                for _ in range(8)
            ]
            await asyncio.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*attempts)
        assert server.process.wait(timeout=60) == 0
    assert [r.status_code for r in responses] == [200] * 8, server.log()
    async with httpx.AsyncClient() as late:
        with pytest.raises(httpx.TransportError):
            await late.get(f"{url}/health", timeout=1)


@pytest.mark.slow
def test_workers_slow_to_start_are_waited_for(tmp_path: Path, database_url: str) -> None:
    """uvicorn's supervisor kills a worker that does not answer its ping in time. On a busy
    machine a new worker (a new Python importing the app) took longer than uvicorn's default
    5 s to answer and was killed while starting, again and again."""
    slow = tmp_path / "slow-start"
    slow.mkdir()
    # Every Python process of the server starts 7 s late.
    (slow / "sitecustomize.py").write_text("import time\n\ntime.sleep(7)\n")
    port = free_port()
    env = app_env(database_url, PYTHONPATH=slow)
    argv = [APP, "serve", "--port", str(port), "--workers", "2"]
    with Process("serve", argv, cwd=tmp_path, env=env) as server:
        server.wait_until(
            lambda: server.log().count("Application startup complete") == 2,
            "both workers started",
            timeout=90,
        )
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    assert "died" not in server.log(), server.log()
