"""Every error is JSON with `detail`; bad input is a 4xx; nothing leaks a secret or a traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from sqlalchemy import bindparam, select, text

from app.core.config import Settings
from app.core.db import DbDep
from app.core.query import Query
from app.platform.logging import RequestIdFilter
from app.users.models import User
from tests.helpers.http import (
    SUPERUSER,
    AppClientFactory,
    Headers,
    client_for,
    register,
    started_client,
)
from tests.helpers.settings import PASSWORD, UNREACHABLE_DATABASE_URL, make_settings


async def test_unknown_path_and_method_are_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    response = await client.put("/api/v1/users")
    assert response.status_code == 405
    assert "detail" in response.json()


async def test_malformed_json_is_422_without_echoing_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/user",
        content=b'{"username": "bob", "password": "' + PASSWORD.encode() + b'"',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert PASSWORD not in response.text


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, settings: Settings) -> None:
    too_big = b"x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    response = await client.post(
        "/api/v1/user", content=too_big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}


async def test_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.MAX_REQUEST_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    response = await client.post(
        "/api/v1/user", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_body_not_received_in_time_is_408(app_client: AppClientFactory) -> None:
    async def never_finished() -> AsyncIterator[bytes]:
        yield b'{"name": '
        await asyncio.Event().wait()
        yield b"}"  # never reached

    async with app_client(REQUEST_BODY_TIMEOUT_SECONDS=0.3) as client:
        response = await client.post(
            "/api/v1/user", content=never_finished(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 408
    assert response.json() == {"detail": "Request body not received in time"}
    assert response.headers["connection"] == "close"
    assert response.headers["cache-control"] == "no-store"


async def test_too_many_headers_is_431(app_client: AppClientFactory) -> None:
    # The servers refuse them first (tests/test_slow_clients.py); the app does too.
    async with app_client(MAX_REQUEST_HEADERS=10) as client:
        headers = {f"x-extra-{n}": "v" for n in range(10)}
        response = await client.get("/api/v1/users", headers=headers)
        assert response.status_code == 431
        assert response.json() == {"detail": "Too many request headers"}
        assert (await client.get("/api/v1/users")).status_code == 200


ErrorRecords = Callable[[], list[logging.LogRecord]]


@pytest.fixture
def error_records(caplog: pytest.LogCaptureFixture) -> Iterator[ErrorRecords]:
    """The app's log records of level ERROR so far, each with its request id (as the app's
    own log handler adds it)."""
    with_ids = RequestIdFilter()
    caplog.handler.addFilter(with_ids)
    try:
        with caplog.at_level(logging.ERROR):
            yield lambda: [
                r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("app")
            ]
    finally:
        caplog.handler.removeFilter(with_ids)


async def test_database_down_is_503_not_500(error_records: ErrorRecords) -> None:
    settings = make_settings(UNREACHABLE_DATABASE_URL, DATABASE_POOL_TIMEOUT=2)
    # An error raised on to the server would be raised here, in the test.
    async with started_client(settings) as client:
        response = await client.get("/api/v1/users", headers={"X-Request-ID": "down-1"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("Database unavailable")
    assert response.headers["retry-after"]
    assert response.headers["x-request-id"] == "down-1"
    # Logged once, on one line, with the request id.
    logged = error_records()
    assert len(logged) == 1, logged
    assert logged[0].getMessage().startswith("database unavailable during GET /api/v1/users: ")
    assert logged[0].exc_info is None
    assert logged[0].request_id == "down-1"  # type: ignore[attr-defined]


async def test_unexpected_error_is_a_json_500_without_traceback(
    app_client: AppClientFactory,
) -> None:
    async with app_client() as base, client_for(base.app, raise_app_exceptions=False) as client:

        @base.app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret internals")

        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret internals" not in response.text


async def test_unexpected_error_is_logged_once_with_traceback_and_request_id(
    app_client: AppClientFactory, error_records: ErrorRecords
) -> None:
    # The default client raises what the app raises to the server: the app must not.
    async with app_client() as client:

        @client.app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret internals")

        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
        assert (await client.get("/api/v1/users")).status_code == 200
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert response.headers["x-request-id"] == "boom-1"
    logged = error_records()
    assert len(logged) == 1, logged
    record = logged[0]
    assert record.getMessage() == "unhandled RuntimeError during GET /boom"
    assert record.request_id == "boom-1"  # type: ignore[attr-defined]
    assert record.exc_info is not None
    assert record.exc_info[2] is not None  # with its traceback


async def test_a_bug_in_a_statement_is_a_500_not_a_503(app_client: AppClientFactory) -> None:
    async with app_client() as client:
        by_name = Query(select(User.id).where(User.username == bindparam("username")))

        @client.app.get("/bad-sql")
        async def bad_sql(db: DbDep) -> None:
            await db.session.execute(text("SELECT no_such_column FROM users"))

        @client.app.get("/bad-value")
        async def bad_value(db: DbDep) -> None:
            # asyncpg refuses the value with its DataError, which SQLAlchemy reports as an
            # InterfaceError: a bug all the same, not the database being unavailable.
            await db.session.execute(select(User).where(User.username == 42))

        @client.app.get("/bad-read")
        async def bad_read(db: DbDep) -> None:
            await db.row(by_name, username=42)  # the same, raw from the driver

        for path in ("/bad-sql", "/bad-value", "/bad-read"):
            response = await client.get(path)
            assert response.status_code == 500, (path, response.text)
            assert response.json() == {"detail": "Internal server error"}
            assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/user/al%00ice",
        "/api/v1/al%00ice/posts",
        "/api/v1/alice/post/1%00",
        "/api/v1/tier/free%00",
        "/api/v1/users?page=1%00",
        "/api/v1/alice/posts?cursor=ab%00cd",
    ],
)
async def test_a_nul_character_in_the_url_is_400(client: httpx.AsyncClient, url: str) -> None:
    await register(client, "alice")
    response = await client.get(url)
    assert response.status_code == 400
    assert response.json() == {"detail": "NUL characters are not allowed in the URL"}


async def test_a_nul_character_in_a_body_is_422_and_stores_nothing(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    body = {"name": "Nul\x00Name", "username": "bob", "email": "bob@example.com"}
    response = await client.post("/api/v1/user", json={**body, "password": PASSWORD})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert (await client.get("/api/v1/user/bob")).status_code == 404

    headers = superuser_headers
    response = await client.patch(
        f"/api/v1/user/{SUPERUSER}", json={"name": "a\x00b"}, headers=headers
    )
    assert response.status_code == 422


async def test_a_nul_character_in_a_login_is_a_plain_401(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    response = await client.post(
        "/api/v1/login", data={"username": "ali\x00ce", "password": PASSWORD}
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect username or password"}
