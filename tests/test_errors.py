"""Every error is JSON with `detail`; bad input is a 4xx; nothing leaks a secret or a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import (
    PASSWORD,
    bearer,
    client_for,
    login,
    make_settings,
    make_superuser,
    register,
    running_app,
)


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
    client: httpx.AsyncClient, database_url: str
) -> None:
    body = {"name": "Nul\x00Name", "username": "bob", "email": "bob@example.com"}
    response = await client.post("/api/v1/user", json={**body, "password": PASSWORD})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert (await client.get("/api/v1/user/bob")).status_code == 404

    await register(client, "alice")
    await make_superuser(database_url, "alice")
    headers = bearer(await login(client, "alice"))
    response = await client.patch("/api/v1/user/alice", json={"name": "a\x00b"}, headers=headers)
    assert response.status_code == 422
    assert (await client.post("/api/v1/tier", json={"name": "free"}, headers=headers)).is_success
    response = await client.post(
        "/api/v1/tier/free/rate_limit",
        json={"name": "n\x00", "path": "api/v1/x", "limit": 1, "period": 1},
        headers=headers,
    )
    assert response.status_code == 422


async def test_a_nul_character_in_a_login_is_a_plain_401(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    response = await client.post(
        "/api/v1/login", data={"username": "ali\x00ce", "password": PASSWORD}
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect username or password"}
