"""A post's cached page of comments is never stale once a write has returned, whichever
domain made the change: a comment added or deleted, the post deleted or purged, the post's
author deleted, renamed or purged, a commenter deleted, restored, renamed or purged. Nobody
but comments (domain.py, pages.py) knows these pages exist.

Each test caches the page (`X-Cache: HIT`), makes the change, and reads the page once: it
must say what the database says (and, where the page is still there, be a MISS)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.helpers.cache import wait_out_fence
from tests.helpers.database import query
from tests.helpers.http import API, Headers, sign_up


@dataclass
class Thread:
    """alice's post, with one comment of bob's, whose first page of comments is cached; and
    carol's post, with none of bob's, whose page is cached too."""

    alice: Headers
    bob: Headers
    carol: Headers
    post_id: int
    comment_id: int
    page: str
    carols_page: str


async def _cached(client: httpx.AsyncClient, url: str) -> httpx.Response:
    await client.get(url)
    second = await client.get(url)
    assert second.status_code == 200, second.text
    assert second.headers.get("x-cache") == "HIT", second.headers
    return second


async def _post(client: httpx.AsyncClient, author: str, headers: Headers) -> int:
    created = await client.post(
        f"{API}/{author}/post", json={"title": "Hi", "text": "."}, headers=headers
    )
    assert created.status_code == 201, created.text
    post_id: int = created.json()["id"]
    return post_id


async def _thread(client: httpx.AsyncClient) -> Thread:
    alice, bob, carol = [await sign_up(client, name) for name in ("alice", "bob", "carol")]
    post_id, carols = await _post(client, "alice", alice), await _post(client, "carol", carol)
    page = f"{API}/alice/post/{post_id}/comments"
    created = await client.post(page, json={"text": "Nice"}, headers=bob)
    assert created.status_code == 201, created.text
    await wait_out_fence()
    carols_page = f"{API}/carol/post/{carols}/comments"
    for url in (page, carols_page):
        await _cached(client, url)
    return Thread(alice, bob, carol, post_id, created.json()["id"], page, carols_page)


async def _fresh(client: httpx.AsyncClient, url: str) -> dict[str, object]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers.get("x-cache") == "MISS", response.headers
    body: dict[str, object] = response.json()
    return body


def _writers(page: dict[str, object]) -> list[object]:
    data = page["data"]
    assert isinstance(data, list)
    return [item["author_username"] for item in data]


async def test_a_comment_added_or_deleted(client: httpx.AsyncClient) -> None:
    thread = await _thread(client)
    added = await client.post(thread.page, json={"text": "Me too"}, headers=thread.carol)
    assert added.status_code == 201, added.text
    assert _writers(await _fresh(client, thread.page)) == ["bob", "carol"]

    await wait_out_fence()
    await _cached(client, thread.page)
    url = f"{API}/alice/post/{thread.post_id}/comment/{thread.comment_id}"
    assert (await client.delete(url, headers=thread.bob)).status_code == 204
    assert _writers(await _fresh(client, thread.page)) == ["carol"]


async def test_the_post_deleted(client: httpx.AsyncClient) -> None:
    thread = await _thread(client)
    deleted = await client.delete(f"{API}/alice/post/{thread.post_id}", headers=thread.alice)
    assert deleted.status_code == 204, deleted.text
    assert (await client.get(thread.page)).status_code == 404


async def test_the_post_purged(client: httpx.AsyncClient, superuser_headers: Headers) -> None:
    thread = await _thread(client)
    purged = await client.delete(f"{API}/alice/db_post/{thread.post_id}", headers=superuser_headers)
    assert purged.status_code == 204, purged.text
    assert (await client.get(thread.page)).status_code == 404


async def test_the_posts_author_renamed(client: httpx.AsyncClient) -> None:
    thread = await _thread(client)
    renamed = await client.patch(
        f"{API}/user/alice", json={"username": "alicia"}, headers=thread.alice
    )
    assert renamed.status_code == 200, renamed.text
    assert (await client.get(thread.page)).status_code == 404
    moved = await client.get(f"{API}/alicia/post/{thread.post_id}/comments")
    assert _writers(moved.json()) == ["bob"]


async def test_the_posts_author_deleted(client: httpx.AsyncClient) -> None:
    thread = await _thread(client)
    assert (await client.delete(f"{API}/user/alice", headers=thread.alice)).status_code == 204
    assert (await client.get(thread.page)).status_code == 404


async def test_the_posts_author_purged(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    thread = await _thread(client)
    purged = await client.delete(f"{API}/db_user/alice", headers=superuser_headers)
    assert purged.status_code == 204, purged.text
    assert (await client.get(thread.page)).status_code == 404


async def test_a_commenter_renamed(client: httpx.AsyncClient) -> None:
    """bob's new name shows at once on the pages of the posts he commented on; the pages of
    other posts stay cached."""
    thread = await _thread(client)
    renamed = await client.patch(f"{API}/user/bob", json={"username": "robert"}, headers=thread.bob)
    assert renamed.status_code == 200, renamed.text
    assert _writers(await _fresh(client, thread.page)) == ["robert"]
    assert (await client.get(thread.carols_page)).headers.get("x-cache") == "HIT"


async def test_a_commenter_deleted(client: httpx.AsyncClient) -> None:
    """A deleted account's comments are no longer shown."""
    thread = await _thread(client)
    assert (await client.delete(f"{API}/user/bob", headers=thread.bob)).status_code == 204
    page = await _fresh(client, thread.page)
    assert (_writers(page), page["total_count"]) == ([], 0)
    assert (await client.get(thread.carols_page)).headers.get("x-cache") == "HIT"


async def test_a_commenter_purged(
    client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    """The purge takes bob's comments with it, and the pages they were on."""
    thread = await _thread(client)
    purged = await client.delete(f"{API}/db_user/bob", headers=superuser_headers)
    assert purged.status_code == 204, purged.text
    page = await _fresh(client, thread.page)
    assert (_writers(page), page["total_count"]) == ([], 0)
    assert await query(database_url, "SELECT id FROM comments") == []
    assert (await client.get(thread.carols_page)).headers.get("x-cache") == "HIT"
