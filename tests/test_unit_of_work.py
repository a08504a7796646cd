"""The unit of work services take (core/db.py `Db`), seen from the engine it runs on: a
request that only reads begins no transaction (its reads are one statement each, outside
any), a write begins one, and a read after a write in the same unit of work sees the write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import DbDep
from app.core.errors import Conflict
from app.core.state import resources_of
from app.users.models import User
from app.users.repository import UserRepository
from tests.helpers.features import installed
from tests.helpers.http import AppClientFactory, Headers, sign_up

API = "/api/v1"


@contextmanager
def transactions_begun(engine: AsyncEngine) -> Iterator[list[Any]]:
    """The transactions that the engine's connections begin while the block runs."""
    begun: list[Any] = []

    def on_begin(connection: Any) -> None:
        begun.append(connection)

    event.listen(engine.sync_engine, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(engine.sync_engine, "begin", on_begin)


async def _reads(
    client: httpx.AsyncClient, alice: Headers, admin: Headers
) -> list[tuple[str, Headers]]:
    """The read-only requests of every installed feature (as alice, or an admin), with what
    each needs set up."""
    reads: list[tuple[str, Headers]] = [
        ("/user/alice", {}),
        ("/users?page=1&items_per_page=10", {}),
        ("/users?limit=10", {}),
        ("/user/me/", alice),
        ("/user/me/sessions", alice),
    ]
    if installed("posts"):
        created = await client.post(
            f"{API}/alice/post", json={"title": "First", "text": "Some words."}, headers=alice
        )
        assert created.status_code == 201, created.text
        post_id = created.json()["id"]
        reads += [
            (f"/alice/post/{post_id}", {}),
            ("/alice/posts", {}),
            ("/alice/posts?limit=5", {}),
        ]
    if installed("tiers"):
        tier = await client.post(f"{API}/tier", json={"name": "gold"}, headers=admin)
        assert tier.status_code == 201, tier.text
        limit = await client.post(
            f"{API}/tier/gold/rate_limit",
            json={"path": "api/v1/x", "limit": 5, "period": 60},
            headers=admin,
        )
        assert limit.status_code == 201, limit.text
        moved = await client.patch(
            f"{API}/user/alice/tier", json={"tier_id": tier.json()["id"]}, headers=admin
        )
        assert moved.status_code == 200, moved.text
        reads += [
            ("/tiers", {}),
            ("/tier/gold", {}),
            ("/tier/gold/rate_limits", {}),
            (f"/tier/gold/rate_limit/{limit.json()['id']}", {}),
            ("/user/alice/tier", alice),
            ("/user/alice/rate_limits", alice),
        ]
    if installed("roles"):
        role = await client.post(
            f"{API}/roles", json={"name": "editors", "permissions": []}, headers=admin
        )
        assert role.status_code == 201, role.text
        reads += [("/roles", admin), ("/roles/editors", admin), ("/user/alice/roles", admin)]
    if installed("api_keys"):
        key = await client.post(f"{API}/user/me/api-keys", json={"name": "ci"}, headers=alice)
        assert key.status_code == 201, key.text
        reads += [("/user/me/api-keys", alice)]
    return reads


async def test_a_request_that_only_reads_begins_no_transaction(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    alice = await sign_up(client, "alice")
    reads = await _reads(client, alice, superuser_headers)
    with transactions_begun(resources_of(app).engine) as begun:
        for path, headers in reads:
            response = await client.get(API + path, headers=headers)
            assert response.status_code == 200, (path, response.text)
        assert begun == [], [path for path, _ in reads]

        # What the probe sees: a write begins the request's one transaction.
        renamed = await client.patch(f"{API}/user/alice", json={"name": "Alice"}, headers=alice)
        assert renamed.status_code == 200, renamed.text
        assert len(begun) == 1


async def test_a_read_after_a_write_sees_it_in_the_same_unit_of_work(
    app_client: AppClientFactory,
) -> None:
    async with app_client() as client:

        @client.app.post("/test/rename/{username}")
        async def rename(username: str, db: DbDep, keep: bool = False) -> dict[str, Any]:
            before = await UserRepository(db).read(username)
            await db.session.execute(
                update(User).where(User.username == username).values(name="Renamed")
            )
            after = await UserRepository(db).read(username)
            if not keep:
                raise Conflict("rolled back on purpose")
            return {"before": before and before["name"], "after": after and after["name"]}

        await sign_up(client, "bob")
        rolled_back = await client.post("/test/rename/bob")
        assert rolled_back.status_code == 409
        # Nothing of it stayed: the read above ran in its transaction, not beside it.
        assert (await client.get(f"{API}/user/bob")).json()["name"] != "Renamed"

        kept = await client.post("/test/rename/bob", params={"keep": True})
        assert kept.status_code == 200, kept.text
        assert kept.json()["after"] == "Renamed"
        assert kept.json()["before"] != "Renamed"
        assert (await client.get(f"{API}/user/bob")).json()["name"] == "Renamed"
