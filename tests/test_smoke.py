from __future__ import annotations

import httpx

from tests.helpers.cache import flush_redis, redis_client
from tests.helpers.database import empty_tables
from tests.helpers.http import bearer, login, register


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = await login(client, "alice")
    response = await client.get("/api/v1/user/me/", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


async def test_tables_are_emptied_between_tests(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Each test starts from empty tables and an empty Redis database (whichever ran before),
    and what empties them after a test (conftest's `_empty_tables`) empties them."""

    async def nothing_stored() -> bool:
        async with redis_client() as redis:
            keys: int = await redis.dbsize()  # before the request below stores anything
        users: int = (await client.get("/api/v1/users")).json()["total_count"]
        return keys == 0 and users == 0

    assert await nothing_stored()
    await register(client, "alice")
    await login(client, "alice")
    assert not await nothing_stored()

    await flush_redis()
    await empty_tables(database_url)
    assert await nothing_stored()
    await register(client, "alice")  # the name is free again
