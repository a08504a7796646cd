"""Every error is JSON with `detail`; bad input is a 4xx; nothing leaks a secret or a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from app.core.config import Settings
from tests.conftest import PASSWORD, client_for, make_settings, running_app


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


async def test_database_down_is_503_not_500() -> None:
    settings = make_settings(
        "postgresql+asyncpg://postgres@127.0.0.1:1/nothing", DATABASE_POOL_TIMEOUT=2
    )
    async with running_app(settings) as app, client_for(app) as client:
        response = await client.get("/api/v1/users")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("Database unavailable")
    assert response.headers["retry-after"]


async def test_unexpected_error_is_a_json_500_without_traceback(settings: Settings) -> None:
    async with running_app(settings) as app:

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret internals")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret internals" not in response.text
