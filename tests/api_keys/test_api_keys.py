"""API keys through HTTP: created by a signed-in user and shown once (only the secret's
SHA-256 is stored), sent as `Authorization: Bearer` or `X-API-Key`, acting as their owner
with at most the key's permissions among the owner's current ones, never managing the
account; revoked, expired, malformed keys and keys of deleted owners refused (401); counted
against the owner's rate limits; at most 100 live keys per user.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.helpers.database import engine_for, execute, query, wait_for_lock_waiters
from tests.helpers.features import needs
from tests.helpers.http import (
    API,
    Headers,
    assert_unauthorized,
    bearer,
    client_for,
    error_detail,
    login,
    parse_time,
    register,
    sign_up,
)
from tests.helpers.roles import (
    create_key,
    grant_new_role,
    key_bearer,
    key_header,
    permissions_of,
    set_roles,
)
from tests.helpers.settings import PASSWORD

KEYS = f"{API}/user/me/api-keys"
ME = f"{API}/user/me/"
KEY_FIELDS = {"id", "name", "prefix", "permissions", "created_at", "expires_at", "last_used_at"}
POST_BODY = {"title": "Hello", "text": "A post"}


async def list_keys(client: httpx.AsyncClient, headers: Headers) -> list[dict[str, Any]]:
    response = await client.get(KEYS, headers=headers)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()
    return keys


async def new_post(client: httpx.AsyncClient, headers: Headers, username: str) -> int:
    response = await client.post(f"{API}/{username}/post", json=POST_BODY, headers=headers)
    assert response.status_code == 201, response.text
    post_id: int = response.json()["id"]
    return post_id


async def me_status(client: httpx.AsyncClient, headers: Headers) -> int:
    return (await client.get(ME, headers=headers)).status_code


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# --- creating and using a key --------------------------------------------------------------


async def test_a_key_is_shown_once_and_only_its_hash_is_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    alice = await sign_up(client, "alice")
    expires = in_seconds(3600)
    created = await create_key(client, alice, "  deploy bot  ", expires_at=expires)
    assert set(created) == {*KEY_FIELDS, "key"}
    key = created["key"]
    assert key.startswith("ak_")
    assert key.startswith(f"ak_{created['prefix']}_")
    assert created["name"] == "deploy bot"
    assert created["permissions"] == []
    assert created["last_used_at"] is None
    assert parse_time(created["expires_at"]) == datetime.fromisoformat(expires)
    parse_time(created["created_at"])

    listed = await list_keys(client, alice)
    assert listed == [{k: v for k, v in created.items() if k != "key"}]
    assert key not in str(listed)

    secret = key.split("_", 2)[2]
    rows = await query(database_url, "SELECT * FROM api_keys")
    assert len(rows) == 1
    assert all(secret not in str(column) for column in rows[0]), rows
    hashes = await query(database_url, "SELECT secret_hash FROM api_keys")
    assert hashes == [(hashlib.sha256(secret.encode()).hexdigest(),)]

    # Another user sees none of alice's keys.
    assert await list_keys(client, await sign_up(client, "bob")) == []
    assert_unauthorized(await client.get(KEYS))
    assert_unauthorized(await client.post(KEYS, json={"name": "x"}))


@needs("posts")
async def test_a_key_authenticates_as_bearer_and_as_x_api_key(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    await sign_up(client, "bob")
    key = (await create_key(client, alice))["key"]
    for headers in (key_bearer(key), key_header(key)):
        me = await client.get(ME, headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "alice"
        assert me.json()["email"] == "alice@example.com"
    (listed,) = await list_keys(client, alice)
    assert listed["last_used_at"] is not None
    assert parse_time(listed["last_used_at"]) >= parse_time(listed["created_at"])
    # It acts as its owner on the owner's own resources, and only there.
    post_id = await new_post(client, key_header(key), "alice")
    response = await client.post(f"{API}/bob/post", json=POST_BODY, headers=key_header(key))
    error_detail(response, 403)
    deleted = await client.delete(f"{API}/alice/post/{post_id}", headers=key_bearer(key))
    assert deleted.status_code == 204, deleted.text


# --- permissions ---------------------------------------------------------------------------


@needs("posts")
async def test_a_key_holds_its_permissions_among_its_owners(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    posts = [await new_post(client, bob, "bob") for _ in range(3)]
    await grant_new_role(
        client, admin, "carol", "ops", "posts.delete_any", "users.purge", "roles.manage"
    )
    key = (await create_key(client, carol, permissions=["roles.manage", "posts.delete_any"]))["key"]
    with_key = key_header(key)
    assert await permissions_of(client, with_key) == ["posts.delete_any", "roles.manage"]

    deleted = await client.delete(f"{API}/bob/post/{posts[0]}", headers=with_key)
    assert deleted.status_code == 204, deleted.text
    refused = await client.delete(f"{API}/db_user/bob", headers=with_key)
    assert "users.purge" in error_detail(refused, 403)
    # Nor can the key hand out what it does not hold (though its owner does).
    body = {"name": "purgers", "permissions": ["users.purge"]}
    error_detail(await client.post(f"{API}/roles", json=body, headers=with_key), 403)

    # At creation: a permission the owner lacks is 403, an undeclared one 422.
    lacking = await client.post(
        KEYS, json={"name": "k", "permissions": ["users.read_private"]}, headers=carol
    )
    assert "users.read_private" in error_detail(lacking, 403)
    unknown = await client.post(
        KEYS, json={"name": "k", "permissions": ["posts.fly"]}, headers=carol
    )
    assert "posts.fly" in str(error_detail(unknown, 422))
    assert len(await list_keys(client, carol)) == 1

    # Never more than the owner holds now: the owner's role taken away, the key loses it.
    await set_roles(client, admin, "carol")
    assert await permissions_of(client, with_key) == []
    error_detail(await client.delete(f"{API}/bob/post/{posts[1]}", headers=with_key), 403)
    # Given back: the key has it again (it was the key's all along).
    await set_roles(client, admin, "carol", "ops")
    deleted = await client.delete(f"{API}/bob/post/{posts[1]}", headers=with_key)
    assert deleted.status_code == 204, deleted.text


async def test_a_superusers_key_holds_only_the_permissions_it_names(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    plain = (await create_key(client, superuser_headers))["key"]
    assert await permissions_of(client, key_bearer(plain)) == []
    await register(client, "alice")
    refused = await client.delete(f"{API}/db_user/alice", headers=key_bearer(plain))
    error_detail(refused, 403)
    shown = (await client.get(f"{API}/user/alice", headers=key_bearer(plain))).json()
    assert "email" not in shown
    purges = (await create_key(client, superuser_headers, permissions=["users.purge"]))["key"]
    purged = await client.delete(f"{API}/db_user/alice", headers=key_bearer(purges))
    assert purged.status_code == 204, purged.text


async def test_a_key_cannot_manage_the_account(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    created = await create_key(client, alice)
    with_key = key_bearer(created["key"])
    new_password = {"current_password": PASSWORD, "new_password": "battery-staple-2"}
    attempts: list[tuple[str, str, Any]] = [
        ("POST", KEYS, {"name": "another"}),
        ("DELETE", f"{KEYS}/{created['id']}", None),
        ("POST", f"{API}/user/me/password", new_password),
        ("GET", f"{API}/user/me/sessions", None),
        ("DELETE", f"{API}/user/me/sessions", None),
        ("DELETE", f"{API}/user/me/sessions/1", None),
        ("PATCH", f"{API}/user/alice", {"name": "Taken Over"}),
        ("DELETE", f"{API}/user/alice", None),
    ]
    for method, url, body in attempts:
        for headers in (with_key, key_header(created["key"])):
            response = await client.request(method, url, json=body, headers=headers)
            detail = error_detail(response, 403)
            assert "API keys cannot manage the account" in detail, (method, url, detail)
    # Nothing changed: one key, the same name, the password and the account as they were.
    assert [k["id"] for k in await list_keys(client, alice)] == [created["id"]]
    me = (await client.get(ME, headers=with_key)).json()
    assert me["name"] == "Alice Tester"
    await login(client, "alice")
    sessions = await client.get(f"{API}/user/me/sessions", headers=alice)
    assert sessions.status_code == 200, sessions.text
    assert len(sessions.json()) == 2


# --- refused keys --------------------------------------------------------------------------


async def test_a_revoked_key_is_refused_at_once(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    doomed, kept = await create_key(client, alice, "doomed"), await create_key(client, alice)
    bobs = await create_key(client, bob)
    assert await me_status(client, key_header(doomed["key"])) == 200

    # Another user's key, an unknown id: 404, and the key still works.
    error_detail(await client.delete(f"{KEYS}/{bobs['id']}", headers=alice), 404)
    error_detail(await client.delete(f"{KEYS}/{2**31 - 1}", headers=alice), 404)
    error_detail(await client.delete(f"{KEYS}/abc", headers=alice), 422)
    assert await me_status(client, key_header(bobs["key"])) == 200

    response = await client.delete(f"{KEYS}/{doomed['id']}", headers=alice)
    assert response.status_code == 204, response.text
    assert_unauthorized(await client.get(ME, headers=key_bearer(doomed["key"])))
    error_detail(await client.get(ME, headers=key_header(doomed["key"])), 401)
    error_detail(await client.delete(f"{KEYS}/{doomed['id']}", headers=alice), 404)
    assert [k["id"] for k in await list_keys(client, alice)] == [kept["id"]]
    assert await me_status(client, key_header(kept["key"])) == 200


async def test_an_expired_key_is_refused(client: httpx.AsyncClient, database_url: str) -> None:
    alice = await sign_up(client, "alice")
    created = await create_key(client, alice, expires_at=in_seconds(3600))
    assert await me_status(client, key_header(created["key"])) == 200
    await execute(
        database_url,
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id",
        id=created["id"],
    )
    assert_unauthorized(await client.get(ME, headers=key_bearer(created["key"])))
    error_detail(await client.get(ME, headers=key_header(created["key"])), 401)


async def test_bad_key_bodies_are_422(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    naive = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    bad_bodies: list[dict[str, Any]] = [
        {"name": "k", "expires_at": in_seconds(-60)},
        {"name": "k", "expires_at": in_seconds(11 * 366 * 86400)},
        {"name": "k", "expires_at": naive.isoformat()},
        {"name": "k", "expires_at": "tomorrow"},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {},
        {"name": "k", "extra": True},
        {"name": "k", "permissions": ["posts"]},
        {"name": "k", "permissions": ["posts.delete_any"] * 201},
    ]
    for body in bad_bodies:
        error_detail(await client.post(KEYS, json=body, headers=alice), 422)
    assert await list_keys(client, alice) == []


async def test_malformed_keys_are_401_never_500(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    key = (await create_key(client, alice))["key"]
    prefix, secret = key[3:15], key[16:]
    wrong_secret = f"ak_{prefix}_{'A' * len(secret)}"
    malformed = [
        "ak_zzz",
        "ak_",
        wrong_secret,
        f"ak_{prefix}_short",
        f"ak_{prefix.upper()}_{secret}",
        f"ak_{'g' * 12}_{secret}",
        f"ak_{prefix}-{secret}",
        f"{key}x",
        "ak_" + "a" * 5000,
        "ak_\u00e9\u00e9\u00e9",
    ]
    for value in malformed:
        for headers in (key_bearer(value), key_header(value)):
            try:
                response = await client.get(ME, headers=headers)
            except UnicodeEncodeError:  # not sendable as a header: nothing to check
                continue
            error_detail(response, 401)
    for garbage in ("garbage", "Bearer nothing", "", bearer("not-a-jwt")["Authorization"]):
        error_detail(await client.get(ME, headers=key_header(garbage)), 401)
    assert await me_status(client, key_header(key)) == 200


async def test_keys_of_deleted_owners_are_refused(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    alices, bobs = (await create_key(client, alice))["key"], (await create_key(client, bob))["key"]
    assert await me_status(client, key_header(alices)) == 200

    # Soft-deleted by the owner's own session.
    assert (await client.delete(f"{API}/user/alice", headers=alice)).status_code == 204
    assert_unauthorized(await client.get(ME, headers=key_bearer(alices)))
    error_detail(await client.get(ME, headers=key_header(alices)), 401)

    # Removed from the database (users.purge).
    response = await client.delete(f"{API}/db_user/bob", headers=superuser_headers)
    assert response.status_code == 204, response.text
    assert_unauthorized(await client.get(ME, headers=key_bearer(bobs)))
    error_detail(await client.get(ME, headers=key_header(bobs)), 401)


# --- limits --------------------------------------------------------------------------------


@needs("posts", "tiers")
async def test_a_key_counts_against_its_owners_rate_limit(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    alice = await sign_up(client, "alice")
    key = (await create_key(client, alice))["key"]
    tier = await client.post(f"{API}/tier", json={"name": "small"}, headers=admin)
    assert tier.status_code == 201, tier.text
    rule = {"path": "api/v1/{username}/post", "limit": 3, "period": 3600}
    response = await client.post(f"{API}/tier/small/rate_limit", json=rule, headers=admin)
    assert response.status_code == 201, response.text
    response = await client.patch(
        f"{API}/user/alice/tier", json={"tier_id": tier.json()["id"]}, headers=admin
    )
    assert response.status_code == 200, response.text

    statuses = []
    for headers in (alice, key_header(key), key_bearer(key), alice, key_header(key)):
        posted = await client.post(f"{API}/alice/post", json=POST_BODY, headers=headers)
        statuses.append(posted.status_code)
        assert posted.headers["x-ratelimit-limit"] == "3", posted.headers
    assert statuses == [201, 201, 201, 429, 429]


async def test_a_user_holds_at_most_100_live_keys(
    client: httpx.AsyncClient, database_url: str
) -> None:
    alice = await sign_up(client, "alice")
    first = await create_key(client, alice)
    # 99 more, straight into the table (each needs a unique prefix).
    await execute(
        database_url,
        "INSERT INTO api_keys (user_id, name, prefix, secret_hash, permissions, created_at) "
        "SELECT 1, 'bulk ' || n, lpad(to_hex(n), 12, '0'), repeat('0', 64), '[]', now() "
        "FROM generate_series(1, 99) AS n",
    )
    assert await query(database_url, "SELECT DISTINCT user_id FROM api_keys") == [(1,)]
    assert len(await list_keys(client, alice)) == 100
    refused = await client.post(KEYS, json={"name": "one too many"}, headers=alice)
    assert "100" in error_detail(refused, 409)
    # A revoked key no longer counts.
    response = await client.delete(f"{KEYS}/{first['id']}", headers=alice)
    assert response.status_code == 204, response.text
    await create_key(client, alice, "replacement")
    error_detail(await client.post(KEYS, json={"name": "again"}, headers=alice), 409)
    # Another user is not affected.
    await create_key(client, await sign_up(client, "bob"))


async def test_concurrent_creations_do_not_pass_the_limit(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    """At 99 live keys, six creations at once: one gets the last place, five a 409. (They are
    made to overlap: another transaction holds alice's row while they run, and lets go once
    all six wait on it.)"""
    alice = await sign_up(client, "alice")
    await create_key(client, alice)
    await execute(
        database_url,
        "INSERT INTO api_keys (user_id, name, prefix, secret_hash, permissions, created_at) "
        "SELECT 1, 'bulk ' || n, lpad(to_hex(n), 12, '0'), repeat('0', 64), '[]', now() "
        "FROM generate_series(1, 98) AS n",
    )
    async with (
        client_for(app, raise_app_exceptions=False) as c,
        engine_for(database_url) as engine,
        engine.connect() as conn,
    ):
        tx = await conn.begin()
        await conn.execute(text("SELECT id FROM users WHERE id = 1 FOR UPDATE"))
        racing = asyncio.gather(
            *(c.post(KEYS, json={"name": f"racer {n}"}, headers=alice) for n in range(6))
        )
        await wait_for_lock_waiters(database_url, racing.done, count=6)
        await tx.commit()
        responses = await racing
    statuses = sorted(response.status_code for response in responses)
    live = await query(database_url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
    assert (statuses, live) == ([201] + [409] * 5, [(100,)])
