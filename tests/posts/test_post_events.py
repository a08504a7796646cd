"""Posts' events as another domain sees them: a domain that keeps pages about a post (comments
on posts, say) declares `forget_pages(..., on=(PostDeleted, PostPurged))` and nothing else, and
its pages are gone once the post's deletion or purge has returned; a change that rolls back
forgets nothing. The app here gets that subscriber added to the domains' own reactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.core.errors import Conflict
from app.core.events import EventContext, Events, Handler
from app.core.state import resources_of
from app.domains import event_handlers
from app.platform.cache import forget_pages
from app.platform.cache.backends import CacheBackend
from app.posts.events import PostDeleted, PostPurged
from tests.helpers.http import API, AppClient, AppClientFactory, Headers, sign_up

NOTES = "{username}_post_{post_id}_notes:*"


@asynccontextmanager
async def subscribed(
    app_client: AppClientFactory, *extra: Handler[PostDeleted]
) -> AsyncIterator[AppClient]:
    """An app whose reactions are the domains' own, a domain that forgets its pages of a post
    on PostDeleted and PostPurged, and `extra`."""
    async with app_client() as client:
        resources = resources_of(client.app)
        notes = forget_pages(NOTES, on=(PostDeleted, PostPurged))
        resources.events = Events((*event_handlers(), *notes, *extra))
        yield client


async def _post_with_notes(
    client: AppClient, cache: CacheBackend, username: str
) -> tuple[Headers, int, list[str]]:
    headers = await sign_up(client, username)
    created = await client.post(
        f"{API}/{username}/post", json={"title": "Hi", "text": "body"}, headers=headers
    )
    assert created.status_code == 201, created.text
    post_id: int = created.json()["id"]
    keys = [f"{username}_post_{post_id}_notes:page_{page}" for page in (1, 2)]
    for key in keys:
        assert await cache.set(key, b"[]", 60)
    # Another post's notes stay.
    other = f"{username}_post_{post_id + 1000}_notes:page_1"
    assert await cache.set(other, b"[]", 60)
    return headers, post_id, keys


async def test_a_subscriber_forgets_its_pages_when_a_post_is_deleted_or_purged(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    async with subscribed(app_client) as client:
        cache = resources_of(client.app).cache
        headers, post_id, keys = await _post_with_notes(client, cache, "alice")
        deleted = await client.delete(f"{API}/alice/post/{post_id}", headers=headers)
        assert deleted.status_code == 204, deleted.text
        assert [await cache.get(key) for key in keys] == [None, None]
        assert await cache.get(f"alice_post_{post_id + 1000}_notes:page_1") == b"[]"

        headers, post_id, keys = await _post_with_notes(client, cache, "bob")
        purged = await client.delete(f"{API}/bob/db_post/{post_id}", headers=superuser_headers)
        assert purged.status_code == 204, purged.text
        assert [await cache.get(key) for key in keys] == [None, None]


async def test_a_deletion_that_rolls_back_forgets_nothing(app_client: AppClientFactory) -> None:
    """A handler in the deletion's transaction refuses it: the post stays, and the reactions
    that wait for the commit never run."""

    async def refuse(context: EventContext, event: PostDeleted) -> None:
        raise Conflict("Not now")

    async with subscribed(app_client, Handler(PostDeleted, refuse)) as client:
        cache = resources_of(client.app).cache
        headers, post_id, keys = await _post_with_notes(client, cache, "alice")
        refused = await client.delete(f"{API}/alice/post/{post_id}", headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.json() == {"detail": "Not now"}
        assert (await client.get(f"{API}/alice/post/{post_id}")).status_code == 200
        assert [await cache.get(key) for key in keys] == [b"[]", b"[]"]
