"""The server-side response cache, over HTTP: keys, TTLs, hits, write fences, invalidation shared
by every app instance, namespace indexes instead of scans, and the database as the fallback
when Redis goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Sequence
from typing import Any, cast

import httpx
import pytest
from fastapi import Depends
from redis.asyncio import Redis

from app.core.db import Db, DbDep, get_db
from app.core.state import resources_of
from app.platform.cache import CacheBackend, MemoryCache, RedisCache, cache
from app.platform.cache.early import early_routes
from app.users.dependencies import OptionalUser
from tests.helpers.cache import private_redis, redis_client, wait_out_fence
from tests.helpers.features import needs
from tests.helpers.http import API, AppClientFactory, Headers, sign_up
from tests.helpers.settings import unreachable_redis_url

pytestmark = needs("posts")

LIST_SUFFIX = "page_1:items_per_page:10:cursor_None:limit_None"


def item_url(username: str, post_id: int) -> str:
    return f"{API}/{username}/post/{post_id}"


def list_url(username: str) -> str:
    return f"{API}/{username}/posts"


def item_key(username: str, post_id: int) -> str:
    return f"{username}_post_cache:{post_id}"


def list_key(username: str) -> str:
    return f"{username}_posts:{LIST_SUFFIX}:{username}"


async def new_post(
    client: httpx.AsyncClient, username: str, headers: Headers, title: str = "First"
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/{username}/post", json={"title": title, "text": f"{title} text"}, headers=headers
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def get_ok(client: httpx.AsyncClient, url: str) -> httpx.Response:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response


async def warm(client: httpx.AsyncClient, *urls: str) -> None:
    """GET each URL until it is served from the cache (a HIT, after a MISS if need be)."""
    for url in urls:
        first = await get_ok(client, url)
        second = await get_ok(client, url)
        assert second.headers["X-Cache"] == "HIT", url
        assert second.content == first.content


def titles(page: httpx.Response) -> dict[int, str]:
    return {post["id"]: post["title"] for post in page.json()["data"]}


async def cached_post(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient | None = None
) -> tuple[Headers, dict[str, Any]]:
    """alice, signed up through `writer`, with one post whose item and list pages are in the
    cache (read through `reader`, `writer` by default, once its write fence has lapsed)."""
    headers = await sign_up(writer, "alice")
    post = await new_post(writer, "alice", headers)
    await wait_out_fence(writer)
    await warm(reader or writer, item_url("alice", post["id"]), list_url("alice"))
    return headers, post


async def assert_fenced(client: httpx.AsyncClient, post_id: int, title: str) -> None:
    """Inside a write's fence: the item and the list are read from the database, with the
    new `title`, and not stored (a second read is no hit either)."""
    for _ in range(2):
        item = await get_ok(client, item_url("alice", post_id))
        assert item.headers["X-Cache"] == "MISS"
        assert item.json()["title"] == title
        page = await get_ok(client, list_url("alice"))
        assert page.headers["X-Cache"] == "MISS"
        assert titles(page) == {post_id: title}


async def smembers(redis: Redis, key: str) -> set[bytes]:
    return await cast(Awaitable[set[bytes]], redis.smembers(key))


# --- hits, keys and expiry ----------------------------------------------------------------


async def test_post_item_is_a_miss_then_a_hit_under_its_key_with_a_ttl(
    client: httpx.AsyncClient,
) -> None:
    headers = await sign_up(client, "alice")
    post = await new_post(client, "alice", headers)
    await wait_out_fence()

    first = await get_ok(client, item_url("alice", post["id"]))
    assert first.headers["X-Cache"] == "MISS"
    assert first.json() == post
    second = await get_ok(client, item_url("alice", post["id"]))
    assert second.headers["X-Cache"] == "HIT"
    assert second.json() == post

    async with redis_client() as redis:
        stored = await redis.get(item_key("alice", post["id"]))
        ttl = await redis.ttl(item_key("alice", post["id"]))
    assert stored is not None
    assert json.loads(stored) == post
    assert 0 < ttl <= 3600


async def test_post_list_is_a_miss_then_a_hit_under_its_key_with_a_ttl(
    client: httpx.AsyncClient,
) -> None:
    headers = await sign_up(client, "alice")
    one = await new_post(client, "alice", headers, "One")
    two = await new_post(client, "alice", headers, "Two")
    await wait_out_fence()

    first = await get_ok(client, list_url("alice"))
    assert first.headers["X-Cache"] == "MISS"
    assert [p["id"] for p in first.json()["data"]] == [two["id"], one["id"]]
    assert first.json()["total_count"] == 2
    second = await get_ok(client, list_url("alice"))
    assert second.headers["X-Cache"] == "HIT"
    assert second.json() == first.json()

    async with redis_client() as redis:
        key = list_key("alice")
        stored = await redis.get(key)
        ttl = await redis.ttl(key)
        assert await redis.keys("alice_posts:*") == [key.encode()]
    assert stored is not None
    assert json.loads(stored) == first.json()
    assert 0 < ttl <= 60


async def test_a_response_read_inside_the_write_fence_is_not_stored(
    client: httpx.AsyncClient,
) -> None:
    headers, post = await cached_post(client)

    patched = await client.patch(
        item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
    )
    assert patched.status_code == 200
    await assert_fenced(client, post["id"], "Edited")
    async with redis_client() as redis:
        assert await redis.exists(item_key("alice", post["id"]), list_key("alice")) == 0

    await wait_out_fence()
    await warm(client, item_url("alice", post["id"]), list_url("alice"))


async def test_errors_are_not_cached(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        missing = await client.get(item_url("nobody", 1))
        assert missing.status_code == 404
        assert "X-Cache" not in missing.headers
    async with redis_client() as redis:
        assert await redis.exists(item_key("nobody", 1), list_key("nobody")) == 0


# --- invalidation -------------------------------------------------------------------------


async def test_each_write_invalidates_the_item_and_the_list(client: httpx.AsyncClient) -> None:
    headers, post = await cached_post(client)

    other = await new_post(client, "alice", headers, "Second")
    page = await get_ok(client, list_url("alice"))
    assert set(titles(page)) == {post["id"], other["id"]}

    await wait_out_fence()
    await warm(client, item_url("alice", post["id"]), list_url("alice"))
    response = await client.delete(item_url("alice", post["id"]), headers=headers)
    assert response.status_code == 204
    assert (await client.get(item_url("alice", post["id"]))).status_code == 404
    assert set(titles(await get_ok(client, list_url("alice")))) == {other["id"]}


async def test_every_cached_page_form_is_invalidated(app_client: AppClientFactory) -> None:
    async with app_client() as ca, app_client() as cb:
        headers = await sign_up(ca, "alice")
        post = await new_post(ca, "alice", headers)
        base = list_url("alice")
        pages = [base, f"{base}?items_per_page=5", f"{base}?limit=5", f"{base}?page=1"]
        await wait_out_fence()
        await warm(cb, *pages)

        patched = await ca.patch(
            item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
        )
        assert patched.status_code == 200
        for url in pages:
            page = await get_ok(cb, url)
            assert [p["title"] for p in page.json()["data"]] == ["Edited"], url


async def test_pattern_invalidation_uses_the_namespace_index(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, "alice")
    post = await new_post(client, "alice", headers)
    await wait_out_fence()
    second_page = f"{list_url('alice')}?page=2"
    await warm(client, list_url("alice"), second_page, item_url("alice", post["id"]))

    page_two_key = list_key("alice").replace("page_1", "page_2")
    async with redis_client() as redis:
        index = await smembers(redis, "cache-index:alice_posts")
        assert index == {list_key("alice").encode(), page_two_key.encode()}
        item_index = await smembers(redis, "cache-index:alice_post_cache")
        assert item_index == {item_key("alice", post["id"]).encode()}
        assert await redis.ttl("cache-index:alice_posts") > 0

        patched = await client.patch(
            item_url("alice", post["id"]), json={"text": "changed"}, headers=headers
        )
        assert patched.status_code == 200

        assert await smembers(redis, "cache-index:alice_posts") == set()
        assert await redis.exists(list_key("alice"), page_two_key) == 0
        assert await redis.exists(item_key("alice", post["id"])) == 0
        assert await redis.exists("cache-fence:alice_posts") == 1
        assert await redis.exists(f"cache-fence:{item_key('alice', post['id'])}") == 1


async def test_pattern_invalidation_runs_no_scan_or_keys_command(
    app_client: AppClientFactory,
) -> None:
    """On a private Redis, the server's own command counters show no keyspace scan."""
    with private_redis() as (port, _):
        url = f"redis://127.0.0.1:{port}/0"
        async with app_client(REDIS_URL=url) as client:
            headers = await sign_up(client, "alice")
            post = await new_post(client, "alice", headers)
            await wait_out_fence(client)
            await warm(client, list_url("alice"), item_url("alice", post["id"]))
            async with redis_client(url) as redis:
                await redis.config_resetstat()
                patched = await client.patch(
                    item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
                )
                assert patched.status_code == 200
                renamed = await client.patch(
                    f"{API}/user/alice", json={"username": "alicia"}, headers=headers
                )
                assert renamed.status_code == 200
                stats = await redis.info("commandstats")
                assert await redis.exists(list_key("alice")) == 0
            assert not {"cmdstat_scan", "cmdstat_keys"} & set(stats), stats
            assert "cmdstat_smembers" in stats  # the index was used instead


async def test_a_response_is_stored_with_its_expiry_in_one_command(
    app_client: AppClientFactory,
) -> None:
    """MONITOR on a private Redis: each entry is written by one SET ... EX, never SET then
    EXPIRE (a crash between the two would leave an entry that never expires)."""
    with private_redis() as (port, _):
        url = f"redis://127.0.0.1:{port}/0"
        async with app_client(REDIS_URL=url) as client:
            headers = await sign_up(client, "alice")
            post = await new_post(client, "alice", headers)
            await wait_out_fence(client)
            commands: list[str] = []
            async with redis_client(url) as redis, redis.monitor() as monitor:

                async def record() -> None:
                    while True:
                        commands.append((await monitor.next_command())["command"])

                recorder = asyncio.create_task(record())
                await asyncio.sleep(0.1)
                await warm(client, item_url("alice", post["id"]), list_url("alice"))
                await redis.ping()
                await asyncio.sleep(0.1)
                recorder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recorder

        for key, ttl in ((item_key("alice", post["id"]), "3600"), (list_key("alice"), "60")):
            writes = [c.split() for c in commands if key in c.split()[1:2]]
            assert writes, commands
            for words in writes:
                assert words[0].upper() in ("GET", "SET"), words
                if words[0].upper() == "SET":
                    assert [w.upper() for w in words[-2:]] == ["EX", ttl], words
            assert any(words[0].upper() == "SET" for words in writes), writes


# --- two app instances on one PostgreSQL and one Redis ------------------------------------


async def test_another_instance_never_serves_data_older_than_a_write(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    root = superuser_headers
    async with app_client() as ca, app_client() as cb:
        headers = await sign_up(ca, "alice")
        first = await new_post(ca, "alice", headers, "First")
        second = await new_post(ca, "alice", headers, "Second")
        item1, item2 = item_url("alice", first["id"]), item_url("alice", second["id"])
        await wait_out_fence()
        await warm(cb, item1, item2, list_url("alice"))

        # create through A
        third = await new_post(ca, "alice", headers, "Third")
        item3 = item_url("alice", third["id"])
        page = await get_ok(cb, list_url("alice"))
        assert set(titles(page)) == {first["id"], second["id"], third["id"]}
        assert page.json()["total_count"] == 3

        # update through A
        await wait_out_fence()
        await warm(cb, item1, item3, list_url("alice"))
        response = await ca.patch(item1, json={"title": "First, edited"}, headers=headers)
        assert response.status_code == 200
        assert (await get_ok(cb, item1)).json()["title"] == "First, edited"
        assert titles(await get_ok(cb, list_url("alice")))[first["id"]] == "First, edited"

        # soft delete through A
        await wait_out_fence()
        await warm(cb, item1, item2, list_url("alice"))
        response = await ca.delete(item2, headers=headers)
        assert response.status_code == 204
        assert (await cb.get(item2)).status_code == 404
        assert set(titles(await get_ok(cb, list_url("alice")))) == {first["id"], third["id"]}

        # hard delete through A, by a superuser
        await wait_out_fence()
        await warm(cb, item1, item3, list_url("alice"))
        response = await ca.delete(f"{API}/alice/db_post/{third['id']}", headers=root)
        assert response.status_code == 204
        assert (await cb.get(item3)).status_code == 404
        page = await get_ok(cb, list_url("alice"))
        assert set(titles(page)) == {first["id"]}
        assert page.json()["total_count"] == 1

        # the author's rename through A: the old paths are gone at once
        await wait_out_fence()
        await warm(cb, item1, list_url("alice"))
        response = await ca.patch(f"{API}/user/alice", json={"username": "alicia"}, headers=headers)
        assert response.status_code == 200
        assert (await cb.get(item1)).status_code == 404
        assert (await cb.get(list_url("alice"))).status_code == 404
        assert (await get_ok(cb, item_url("alicia", first["id"]))).json()["title"] == (
            "First, edited"
        )
        assert set(titles(await get_ok(cb, list_url("alicia")))) == {first["id"]}

        # the author's soft delete through A
        await wait_out_fence()
        await warm(cb, item_url("alicia", first["id"]), list_url("alicia"))
        response = await ca.delete(f"{API}/user/alicia", headers=headers)
        assert response.status_code == 204
        assert (await cb.get(item_url("alicia", first["id"]))).status_code == 404
        assert (await cb.get(list_url("alicia"))).status_code == 404


async def test_hard_deleting_a_user_invalidates_their_posts_on_another_instance(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    root = superuser_headers
    async with app_client() as ca, app_client() as cb:
        _, post = await cached_post(ca, cb)

        response = await ca.delete(f"{API}/db_user/alice", headers=root)
        assert response.status_code == 204
        assert (await cb.get(item_url("alice", post["id"]))).status_code == 404
        assert (await cb.get(list_url("alice"))).status_code == 404


class SlowStores:
    """A cache whose stores arrive late, as from a slow or busy instance: a response read from
    the database before a write may reach the cache only after the write's invalidation."""

    def __init__(self, inner: CacheBackend, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, ttl: int) -> bool:
        await asyncio.sleep(self.delay)
        return await self.inner.set(key, value, ttl)

    async def invalidate(self, keys: Sequence[str], patterns: Sequence[str]) -> None:
        await self.inner.invalidate(keys, patterns)

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


async def test_reads_racing_an_update_never_leave_old_data_behind(
    app_client: AppClientFactory,
) -> None:
    async with app_client() as ca, app_client() as cb:
        resources_of(cb.app).cache = SlowStores(resources_of(cb.app).cache, delay=0.1)
        headers = await sign_up(ca, "alice")
        post = await new_post(ca, "alice", headers, "Version 0")
        item = item_url("alice", post["id"])

        for version in range(1, 5):
            await wait_out_fence()
            if version % 2:  # cold: the readers' own misses race the update
                async with redis_client() as redis:
                    await redis.delete(item_key("alice", post["id"]), list_key("alice"))
            else:  # warm: the readers hit until the update invalidates
                await warm(cb, item, list_url("alice"))
            title = f"Version {version}"
            done: list[float] = []
            seen: list[tuple[float, str, str]] = []

            async def read(url: str, *, _done: list[float] = done, _seen: list[Any] = seen) -> None:
                # Read until 0.3 s after the update returned, and at least once after it.
                started = 0.0
                while not _done or started <= _done[0] or time.monotonic() - _done[0] < 0.3:
                    started = time.monotonic()
                    response = await get_ok(cb, url)
                    body = response.json()
                    got = body["title"] if url == item else body["data"][0]["title"]
                    _seen.append((started, url, got))

            async def update(*, _title: str = title, _done: list[float] = done) -> None:
                await asyncio.sleep(0.02)
                response = await ca.patch(item, json={"title": _title}, headers=headers)
                assert response.status_code == 200
                _done.append(time.monotonic())

            readers = [read(item) for _ in range(6)] + [read(list_url("alice")) for _ in range(6)]
            await asyncio.gather(update(), *readers)

            late = [(url, got) for started, url, got in seen if started > done[0]]
            assert late, "no read started after the update returned"
            assert all(got == title for _, got in late), late
            for client in (ca, cb, cb, ca):
                assert (await get_ok(client, item)).json()["title"] == title
                assert (await get_ok(client, list_url("alice"))).json()["data"][0]["title"] == (
                    title
                )
            await wait_out_fence()
            for client in (cb, ca):
                assert (await get_ok(client, item)).json()["title"] == title
                assert (await get_ok(client, list_url("alice"))).json()["data"][0]["title"] == (
                    title
                )


# --- Redis unavailable --------------------------------------------------------------------


def cache_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "app.platform.cache"
        and r.levelno >= logging.WARNING
        and "cache unavailable" in r.getMessage()
    ]


async def test_redis_stopped_during_requests_falls_back_to_the_database(
    app_client: AppClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with private_redis() as (port, process):
        async with app_client(
            REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT_SECONDS=0.5
        ) as client:
            assert isinstance(resources_of(client.app).cache, RedisCache)
            headers, post = await cached_post(client)

            process.kill()
            process.wait(timeout=10)
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                item = await client.get(item_url("alice", post["id"]))
                assert item.status_code == 200, item.text
                assert item.json() == post
                page = await client.get(list_url("alice"))
                assert page.status_code == 200, page.text
                assert titles(page) == {post["id"]: post["title"]}

                created = await client.post(
                    f"{API}/alice/post", json={"title": "Offline", "text": "t"}, headers=headers
                )
                assert created.status_code == 201, created.text  # rate limiter fails open
                patched = await client.patch(
                    item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
                )
                assert patched.status_code == 200, patched.text
                assert patched.json()["title"] == "Edited"

                item = await client.get(item_url("alice", post["id"]))
                assert item.status_code == 200
                assert item.json()["title"] == "Edited"
                page = await client.get(list_url("alice"))
                assert page.status_code == 200
                assert titles(page) == {created.json()["id"]: "Offline", post["id"]: "Edited"}
            assert cache_failures(caplog), [r.getMessage() for r in caplog.records]
            assert not [
                r
                for r in caplog.records
                if r.levelno >= logging.ERROR and "unhandled" in r.getMessage()
            ]


async def test_the_app_starts_and_serves_with_redis_down_from_the_start(
    app_client: AppClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    down = unreachable_redis_url()
    with caplog.at_level(logging.WARNING):
        async with app_client(REDIS_URL=down, REDIS_TIMEOUT_SECONDS=0.5) as client:
            headers = await sign_up(client, "alice")
            post = await new_post(client, "alice", headers)
            for _ in range(2):
                item = await client.get(item_url("alice", post["id"]))
                assert item.status_code == 200, item.text
                assert item.json() == post
                page = await client.get(list_url("alice"))
                assert page.status_code == 200, page.text
                assert titles(page) == {post["id"]: post["title"]}
            patched = await client.patch(
                item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
            )
            assert patched.status_code == 200, patched.text
            assert (await client.get(item_url("alice", post["id"]))).json()["title"] == "Edited"
    assert cache_failures(caplog)


async def test_a_write_during_a_redis_blip_leaves_no_stale_entry_behind(
    app_client: AppClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stops answering while a write commits (its invalidation times out), then comes
    back: the entry cached before the write must not be served as if nothing had changed."""
    with private_redis() as (port, process):
        async with app_client(
            REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT_SECONDS=0.5
        ) as client:
            headers, post = await cached_post(client)

            process.send_signal(signal.SIGSTOP)
            try:
                with caplog.at_level(logging.WARNING):
                    patched = await client.patch(
                        item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
                    )
            finally:
                process.send_signal(signal.SIGCONT)
            assert patched.status_code == 200, patched.text
            assert cache_failures(caplog)

            item = await get_ok(client, item_url("alice", post["id"]))
            assert item.json()["title"] == "Edited", item.headers.get("X-Cache")
            page = await get_ok(client, list_url("alice"))
            assert titles(page) == {post["id"]: "Edited"}, page.headers.get("X-Cache")


# --- the embedded in-memory cache ---------------------------------------------------------


async def test_memory_cache_has_the_same_semantics(app_client: AppClientFactory) -> None:
    async with app_client(REDIS_URL=None) as client:
        assert isinstance(resources_of(client.app).cache, MemoryCache)
        headers, post = await cached_post(client)

        patched = await client.patch(
            item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
        )
        assert patched.status_code == 200
        await assert_fenced(client, post["id"], "Edited")

        await wait_out_fence(client)
        await warm(client, item_url("alice", post["id"]), list_url("alice"))
        renamed = await client.patch(
            f"{API}/user/alice", json={"username": "alicia"}, headers=headers
        )
        assert renamed.status_code == 200
        assert (await client.get(item_url("alice", post["id"]))).status_code == 404
        assert (await client.get(list_url("alice"))).status_code == 404


# --- the decorator refuses what it cannot invalidate --------------------------------------


async def _endpoint(username: str, id: int) -> dict[str, int]:
    return {"id": id}


@pytest.mark.parametrize(
    "pattern", ["*_posts", "*_posts:*", "{username}*:x", "[ab]_posts:*", "{username}_posts"]
)
def test_cache_refuses_a_pattern_without_a_literal_namespace(pattern: str) -> None:
    with pytest.raises(ValueError, match="literal namespace"):
        cache("{username}_x", resource_id_name="id", pattern_to_invalidate_extra=[pattern])(
            _endpoint
        )


@pytest.mark.parametrize(
    ("key_prefix", "extra", "patterns"),
    [
        ("{user}_x", None, None),
        ("{username}_x", {"{nope}_y": "{id}"}, None),
        ("{username}_x", {"{username}_y": "{nope}"}, None),
        ("{username}_x", None, ["{nope}_posts:*"]),
    ],
)
def test_cache_refuses_an_unknown_template_name(
    key_prefix: str, extra: dict[str, str] | None, patterns: list[str] | None
) -> None:
    with pytest.raises(ValueError, match="unknown names"):
        cache(
            key_prefix,
            resource_id_name="id",
            to_invalidate_extra=extra,
            pattern_to_invalidate_extra=patterns,
        )(_endpoint)


def test_cache_accepts_well_formed_templates() -> None:
    decorated = cache(
        "{username}_x",
        resource_id_name="id",
        to_invalidate_extra={"{username}_y": "{id}"},
        pattern_to_invalidate_extra=["{username}_posts:*", "posts:{username}*"],
    )(_endpoint)
    assert callable(decorated)
    with pytest.raises(ValueError, match="resource id"):
        cache("{username}_x", resource_id_name="missing")(_endpoint)


# --- hits answered before routing (serve_hits_early) ----------------------------------------


class CountingRoutes:
    """Counts the requests that reach a route (and so resolve its dependencies): the posts'
    public reads all take the unit of work (this one only reads: it never commits)."""

    def __init__(self, app: Any) -> None:
        self.opened = 0
        self.resources = resources_of(app)

    async def __call__(self) -> Any:
        self.opened += 1
        return Db(self.resources.engine, self.resources.sessionmaker)


async def test_public_hits_are_answered_before_routing(app_client: AppClientFactory) -> None:
    async with app_client() as client:
        app = client.app
        headers, post = await cached_post(client)
        # The posts' public reads are among the early routes (other domains may add theirs).
        assert {
            "/api/v1/{username}/post/{id}",
            "/api/v1/{username}/posts",
        } <= {route.path for route in early_routes(app.routes)}
        routed = CountingRoutes(app)
        app.dependency_overrides[get_db] = routed

        item = await get_ok(client, item_url("alice", post["id"]))
        page = await get_ok(client, list_url("alice"))
        explicit = await get_ok(client, list_url("alice") + "?page=1&items_per_page=10")
        assert routed.opened == 0
        assert item.json() == post
        assert item.headers["x-cache"] == "HIT"
        assert item.headers["cache-control"].startswith("public")
        assert titles(page) == {post["id"]: "First"}
        assert explicit.content == page.content
        revalidated = await client.get(
            item_url("alice", post["id"]), headers={"If-None-Match": item.headers["etag"]}
        )
        assert revalidated.status_code == 304
        assert routed.opened == 0

        # Whatever the early path cannot vouch for goes the normal way, with the same answer.
        signed_in = await client.get(item_url("alice", post["id"]), headers=headers)
        assert signed_in.json() == post
        assert (await get_ok(client, list_url("alice") + "?page=01")).content == page.content
        # (a cursor spelled "None" means no cursor, as it does for the decorator's key)
        assert (await get_ok(client, list_url("alice") + "?cursor=None")).content == page.content
        assert (await get_ok(client, list_url("alice") + "?other=1")).content == page.content
        assert (await client.get(item_url("alice", 999))).status_code == 404
        assert routed.opened == 5
        del app.dependency_overrides[get_db]

        # A write still invalidates what the early path serves.
        patched = await client.patch(
            item_url("alice", post["id"]), json={"title": "Edited"}, headers=headers
        )
        assert patched.status_code == 200
        assert (await get_ok(client, item_url("alice", post["id"]))).json()["title"] == "Edited"
        assert titles(await get_ok(client, list_url("alice"))) == {post["id"]: "Edited"}


async def test_early_hits_refuse_endpoints_with_other_dependencies() -> None:
    with pytest.raises(ValueError, match="only dependency"):

        @cache("{name}_thing", resource_id_name="name", serve_hits_early=True)
        async def read_thing(name: str, viewer: OptionalUser) -> dict[str, str]:
            return {"name": name}


async def test_early_hits_leave_routes_with_dependencies_to_routing(
    app_client: AppClientFactory,
) -> None:
    calls: list[int] = []

    async def counted() -> None:
        calls.append(1)

    async with app_client() as client:
        app = client.app

        @app.get("/guarded/{name}", dependencies=[Depends(counted)])
        @cache("{name}_guarded", resource_id_name="name", serve_hits_early=True)
        async def guarded(name: str, db: DbDep) -> dict[str, str]:
            return {"name": name}

        first = await get_ok(client, "/guarded/box")
        second = await get_ok(client, "/guarded/box")
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        assert calls == [1, 1]
        assert "/guarded/{name}" not in {route.path for route in early_routes(app.routes)}
