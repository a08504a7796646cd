"""The admin panel's changes keep a post's cached page of comments fresh, as the API's do:
the panel goes through the services, which publish the same events (posts' and users'), and
comments deletes through comments.service (admin.py). Each test caches the page, changes
something in the panel, and reads the page once, with no wait."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.helpers.admin import FROM_PANEL, SAME_ORIGIN, needs_admin, signed_in_admin, user_id
from tests.helpers.cache import wait_out_fence
from tests.helpers.http import API, Headers, client_for, sign_up

pytestmark = needs_admin


async def _cached(client: httpx.AsyncClient, url: str) -> httpx.Response:
    await client.get(url)
    second = await client.get(url)
    assert second.headers.get("x-cache") == "HIT", second.headers
    return second


async def _thread(client: httpx.AsyncClient) -> tuple[int, int, str]:
    """alice's post with a comment of bob's, its first page of comments cached: the post's
    id, the comment's, and the page's URL."""
    alice: Headers = await sign_up(client, "alice")
    bob: Headers = await sign_up(client, "bob")
    post = await client.post(f"{API}/alice/post", json={"title": "Hi", "text": "."}, headers=alice)
    assert post.status_code == 201, post.text
    page = f"{API}/alice/post/{post.json()['id']}/comments"
    created = await client.post(page, json={"text": "Nice"}, headers=bob)
    assert created.status_code == 201, created.text
    await wait_out_fence()
    await _cached(client, page)
    return post.json()["id"], created.json()["id"], page


def _writers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["author_username"] for item in response.json()["data"]]


async def _rename(panel: httpx.AsyncClient, database_url: str, old: str, new: str) -> None:
    form = {"name": old.title(), "username": new, "email": f"{old}@example.com", "save": "Save"}
    uid = await user_id(database_url, old)
    renamed = await panel.post(f"/admin/user/edit/{uid}", data=form, headers=SAME_ORIGIN)
    assert renamed.status_code == 302, renamed.text


async def _act(panel: httpx.AsyncClient, view: str, action: str, pk: int) -> None:
    done = await panel.get(f"/admin/{view}/action/{action}?pks={pk}", headers=FROM_PANEL)
    assert done.status_code == 302, done.text


async def test_a_comment_deleted_in_the_panel(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    _, comment_id, page = await _thread(client)
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        listed = await panel.get("/admin/comment/list")
        assert listed.status_code == 200
        assert "Nice" in listed.text
        await _act(panel, "comment", "delete", comment_id)
    assert _writers(await client.get(page)) == []


async def test_the_post_deleted_and_restored_in_the_panel(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    post_id, _, page = await _thread(client)
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        await _act(panel, "post", "soft-delete", post_id)
        assert (await client.get(page)).status_code == 404
        await _act(panel, "post", "restore", post_id)
    assert _writers(await client.get(page)) == ["bob"]


async def test_the_posts_author_renamed_then_deleted_in_the_panel(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    post_id, _, page = await _thread(client)
    moved = f"{API}/alicia/post/{post_id}/comments"
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        await _rename(panel, database_url, "alice", "alicia")
        assert (await client.get(page)).status_code == 404
        assert _writers(await client.get(moved)) == ["bob"]

        await wait_out_fence()
        await _cached(client, moved)
        await _act(panel, "user", "soft-delete", await user_id(database_url, "alicia"))
    assert (await client.get(moved)).status_code == 404


async def test_a_commenter_renamed_deleted_and_restored_in_the_panel(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    _, _, page = await _thread(client)
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        await _rename(panel, database_url, "bob", "robert")
        assert _writers(await client.get(page)) == ["robert"]

        await wait_out_fence()
        await _cached(client, page)
        robert = await user_id(database_url, "robert")
        await _act(panel, "user", "soft-delete", robert)
        assert _writers(await client.get(page)) == []

        await wait_out_fence()
        await _cached(client, page)
        await _act(panel, "user", "restore", robert)
    assert _writers(await client.get(page)) == ["robert"]
