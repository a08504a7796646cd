"""Comments through HTTP: writing them on a post, reading a post's comments in offset pages,
and deleting them; who may do what (anybody signed in comments, the writer or a moderator
deletes), and the mail the post's author gets.

A post's comments live under the post's path (`/{username}/post/{post_id}/comments`), shown
while the post is. Every refused write is checked by reading the comments back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers.database import query
from tests.helpers.features import needs
from tests.helpers.http import (
    API,
    AppClientFactory,
    Headers,
    assert_unauthorized,
    client_for,
    error_detail,
    parse_time,
    sign_up,
)
from tests.helpers.mail import mail_app, mails, part
from tests.helpers.roles import grant_new_role

COMMENT_FIELDS = {"id", "post_id", "author_id", "author_username", "text", "created_at"}
PAGE_FIELDS = {"data", "total_count", "has_more", "page", "items_per_page"}


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that turns an unhandled server error into the 500 the app sends."""
    async with client_for(app, raise_app_exceptions=False) as client:
        yield client


@dataclass
class Thread:
    """alice's post, on which bob and carol comment."""

    alice: Headers
    bob: Headers
    carol: Headers
    post_id: int

    @property
    def comments(self) -> str:
        return f"{API}/alice/post/{self.post_id}/comments"

    def comment(self, comment_id: int, post_id: int | None = None) -> str:
        return f"{API}/alice/post/{post_id or self.post_id}/comment/{comment_id}"


@pytest.fixture
async def thread(api: httpx.AsyncClient) -> Thread:
    alice = await sign_up(api, "alice")
    bob, carol = await sign_up(api, "bob"), await sign_up(api, "carol")
    post = await api.post(f"{API}/alice/post", json={"title": "Hi", "text": "."}, headers=alice)
    assert post.status_code == 201, post.text
    return Thread(alice, bob, carol, post.json()["id"])


async def comment(
    api: httpx.AsyncClient, thread: Thread, headers: Headers, text: str = "Nice"
) -> dict[str, Any]:
    response = await api.post(thread.comments, json={"text": text}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def page_of(api: httpx.AsyncClient, url: str, **params: Any) -> dict[str, Any]:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == PAGE_FIELDS, body
    return body


async def test_comments_are_listed_oldest_first_in_offset_pages(
    api: httpx.AsyncClient, thread: Thread
) -> None:
    first = await comment(api, thread, thread.bob, "  First!  ")
    assert set(first) == COMMENT_FIELDS, first
    assert first["text"] == "First!"
    assert first["post_id"] == thread.post_id
    assert first["author_username"] == "bob"
    parse_time(first["created_at"])
    second = await comment(api, thread, thread.carol, "Second")
    third = await comment(api, thread, thread.alice, "Thanks, both")

    whole = await page_of(api, thread.comments)
    assert whole["data"] == [first, second, third]
    assert (whole["total_count"], whole["has_more"]) == (3, False)
    middle = await page_of(api, thread.comments, page=2, items_per_page=1)
    assert middle["data"] == [second]
    assert (middle["total_count"], middle["has_more"]) == (3, True)
    past = await page_of(api, thread.comments, page=5, items_per_page=1)
    assert (past["data"], past["total_count"], past["has_more"]) == ([], 3, False)


async def test_a_post_without_comments_has_an_empty_page(
    api: httpx.AsyncClient, thread: Thread
) -> None:
    empty = await page_of(api, thread.comments)
    assert (empty["data"], empty["total_count"], empty["has_more"]) == ([], 0, False)


async def test_comments_exist_only_under_a_shown_post(
    api: httpx.AsyncClient, thread: Thread, database_url: str
) -> None:
    """Under another user's name, an unknown post, or a deleted one: 404 to read and to
    write; an anonymous write is a 401."""
    other = f"{API}/bob/post/{thread.post_id}/comments"
    unknown = f"{API}/alice/post/{thread.post_id + 1}/comments"
    nobody = f"{API}/nobody/post/{thread.post_id}/comments"
    for url in (other, unknown, nobody):
        error_detail(await api.get(url), 404)
        error_detail(await api.post(url, json={"text": "Hi"}, headers=thread.bob), 404)
    assert_unauthorized(await api.post(thread.comments, json={"text": "Hi"}))

    deleted = await api.delete(f"{API}/alice/post/{thread.post_id}", headers=thread.alice)
    assert deleted.status_code == 204, deleted.text
    error_detail(await api.get(thread.comments), 404)
    error_detail(await api.post(thread.comments, json={"text": "Hi"}, headers=thread.bob), 404)
    assert await query(database_url, "SELECT id FROM comments") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 2001},
        {"text": "a\x00b"},
        {"text": "Hi", "author_id": 1},
        {"text": 7},
    ],
)
async def test_a_comment_out_of_bounds_is_a_422(
    api: httpx.AsyncClient, thread: Thread, body: dict[str, Any]
) -> None:
    error_detail(await api.post(thread.comments, json=body, headers=thread.bob), 422)
    assert (await page_of(api, thread.comments))["total_count"] == 0


async def test_a_comment_is_deleted_by_its_writer_or_a_superuser(
    api: httpx.AsyncClient, thread: Thread, superuser_headers: Headers
) -> None:
    """Not by another user, the post's author included (403), nor anonymously (401); under
    another post, or an unknown id, it is a 404."""
    bobs = await comment(api, thread, thread.bob)
    carols = await comment(api, thread, thread.carol)
    for headers in (thread.alice, thread.carol):
        error_detail(await api.delete(thread.comment(bobs["id"]), headers=headers), 403)
    assert_unauthorized(await api.delete(thread.comment(bobs["id"])))
    error_detail(await api.delete(thread.comment(bobs["id"] + 99), headers=thread.bob), 404)
    elsewhere = thread.comment(bobs["id"], post_id=thread.post_id + 1)
    error_detail(await api.delete(elsewhere, headers=thread.bob), 404)
    assert (await page_of(api, thread.comments))["data"] == [bobs, carols]

    assert (await api.delete(thread.comment(bobs["id"]), headers=thread.bob)).status_code == 204
    error_detail(await api.delete(thread.comment(bobs["id"]), headers=thread.bob), 404)
    removed = await api.delete(thread.comment(carols["id"]), headers=superuser_headers)
    assert removed.status_code == 204, removed.text
    assert (await page_of(api, thread.comments))["data"] == []


@needs("roles")
async def test_a_moderator_deletes_any_comment(
    api: httpx.AsyncClient, thread: Thread, superuser_headers: Headers
) -> None:
    """`comments.delete_any`, given through a role, lets its holder delete anybody's."""
    bobs = await comment(api, thread, thread.bob)
    error_detail(await api.delete(thread.comment(bobs["id"]), headers=thread.carol), 403)
    await grant_new_role(api, superuser_headers, "carol", "moderator", "comments.delete_any")
    assert (await api.delete(thread.comment(bobs["id"]), headers=thread.carol)).status_code == 204
    assert (await page_of(api, thread.comments))["total_count"] == 0


@needs("mail")
async def test_the_posts_author_hears_of_a_comment_by_mail(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    """One mail to the post's author per comment of somebody else; none for their own."""
    folder = tmp_path / "mail"
    async with mail_app(app_client, folder) as client:
        alice = await sign_up(client, "alice")
        bob = await sign_up(client, "bob")
        post = await client.post(
            f"{API}/alice/post", json={"title": "Hi", "text": "."}, headers=alice
        )
        url = f"{API}/alice/post/{post.json()['id']}/comments"
        before = len(await mails(client, folder))
        for headers, text in ((alice, "Mine"), (bob, "Lovely <b>post</b>")):
            created = await client.post(url, json={"text": text}, headers=headers)
            assert created.status_code == 201, created.text
        [message] = (await mails(client, folder))[before:]
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == 'bob commented on "Hi"'
    assert "Lovely <b>post</b>" in part(message, "plain")
