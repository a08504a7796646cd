"""The admin panel's view of posts (posts/admin.py): its edits, soft deletes and restores go
through posts.service and publish the API's events, so a post's cached page and its author's
lists are forgotten at once, as after the same change through the API; and posts forget the
pages of a user deleted or renamed in the panel (users' events)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.helpers.admin import FROM_PANEL, SAME_ORIGIN, needs_admin, signed_in_admin, user_id
from tests.helpers.cache import wait_out_fence
from tests.helpers.http import API, Headers, client_for, sign_up

pytestmark = needs_admin


async def _cached_post(client: httpx.AsyncClient, author: str) -> tuple[Headers, int, str, str]:
    """`author` with one post whose page and list are cached: the headers, the post's id, and
    the page's and the list's URLs."""
    headers = await sign_up(client, author)
    created = await client.post(
        f"{API}/{author}/post", json={"title": "Before", "text": "body"}, headers=headers
    )
    assert created.status_code == 201, created.text
    post_id: int = created.json()["id"]
    await wait_out_fence()
    item, page = f"{API}/{author}/post/{post_id}", f"{API}/{author}/posts"
    for url in (item, page, item, page):
        assert (await client.get(url)).status_code == 200
    assert (await client.get(item)).headers.get("x-cache") == "HIT"
    assert (await client.get(page)).headers.get("x-cache") == "HIT"
    return headers, post_id, item, page


async def test_editing_a_post_invalidates_its_cached_pages(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    _, post_id, item, page = await _cached_post(client, "author")
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        form = {"title": "After", "text": "body", "media_url": "", "save": "Save"}
        saved = await panel.post(f"/admin/post/edit/{post_id}", data=form, headers=SAME_ORIGIN)
        assert saved.status_code == 302, saved.text
        too_long = await panel.post(
            f"/admin/post/edit/{post_id}", data={**form, "title": "x" * 31}, headers=SAME_ORIGIN
        )
        assert too_long.status_code == 400
    assert (await client.get(item)).json()["title"] == "After"
    assert (await client.get(page)).json()["data"][0]["title"] == "After"


async def test_a_post_deleted_in_the_panel_leaves_its_cached_pages_at_once(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    """The panel's soft delete is the API's (posts.service publishes PostDeleted, on which posts
    forget the post's page and its author's lists): the next read, with no wait, no longer
    shows the post; a restore shows it again at once."""
    _, post_id, item, page = await _cached_post(client, "author")
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        deleted = await panel.get(
            f"/admin/post/action/soft-delete?pks={post_id}", headers=FROM_PANEL
        )
        assert deleted.status_code == 302, deleted.text
        assert (await client.get(item)).status_code == 404
        listed = await client.get(page)
        assert listed.headers.get("x-cache") == "MISS"
        assert listed.json()["total_count"] == 0

        restored = await panel.get(f"/admin/post/action/restore?pks={post_id}", headers=FROM_PANEL)
        assert restored.status_code == 302, restored.text
    assert (await client.get(item)).json()["id"] == post_id
    assert (await client.get(page)).json()["total_count"] == 1


async def test_a_user_deleted_or_renamed_in_the_panel_leaves_no_cached_post_behind(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    """Posts subscribe to users' UserRenamed and UserDeleted, which the panel publishes as the
    API does: the pages filed under the old name go at once."""
    _, post_id, item, page = await _cached_post(client, "author")
    author = await user_id(database_url, "author")
    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        form = {"name": "Author", "username": "writer", "email": "author@example.com"}
        renamed = await panel.post(
            f"/admin/user/edit/{author}", data={**form, "save": "Save"}, headers=SAME_ORIGIN
        )
        assert renamed.status_code == 302, renamed.text
        assert (await client.get(item)).status_code == 404
        assert (await client.get(page)).status_code == 404
        assert (await client.get(f"{API}/writer/post/{post_id}")).status_code == 200

        await wait_out_fence()
        moved = f"{API}/writer/posts"
        for _ in range(2):
            await client.get(moved)
        assert (await client.get(moved)).headers.get("x-cache") == "HIT"
        deleted = await panel.get(
            f"/admin/user/action/soft-delete?pks={author}", headers=FROM_PANEL
        )
        assert deleted.status_code == 302, deleted.text
    assert (await client.get(moved)).status_code == 404
    assert (await client.get(f"{API}/writer/post/{post_id}")).status_code == 404
