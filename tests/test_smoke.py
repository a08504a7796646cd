from __future__ import annotations

import httpx

from tests.conftest import bearer, login, register


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await login(client, "alice")
    response = await client.get("/api/v1/user/me/", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


async def test_tables_are_emptied_between_tests(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
