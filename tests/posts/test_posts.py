"""Posts through HTTP: creating, reading, listing (offset and cursor pages), editing and
deleting posts; who may do what on which path (the ownership matrix); cursor pages of users.

A post lives under its author's username only. Reads are public; writes belong to the author
(hard delete to superusers). Every refused write is checked by reading the post back.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

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
    sign_up_superuser,
)

POST_FIELDS = {"id", "title", "text", "media_url", "created_by_user_id", "created_at", "updated_at"}
OFFSET_PAGE_FIELDS = {"data", "total_count", "has_more", "page", "items_per_page"}
CURSOR_PAGE_FIELDS = {"data", "limit", "next_cursor", "has_more"}
MAX_TEXT = 63206
MAX_ID = 2**31 - 1
ACTORS = ("author", "other", "superuser", "anonymous")


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that turns an unhandled server error into the 500 the app sends, so that a
    crash shows up as a wrong status code instead of an exception inside the test."""
    async with client_for(app, raise_app_exceptions=False) as client:
        yield client


@dataclass
class People:
    """alice writes the posts; bob (`other`) and root (`superuser`) are signed up after her, in
    that order, when the test names them; `headers` by actor (`anonymous`: none)."""

    author: dict[str, Any]
    headers: dict[str, Headers]


# Who else a test needs besides alice: `@everyone` (a test that reads every actor's view, or
# names bob's or root's account itself), else the actor and the path's owner its parameters
# name. Signing up costs a hash and a login each: most tests need alice alone.
everyone = pytest.mark.usefixtures("_everyone")
OTHER_ACTORS = {"other": "bob", "superuser": "root"}


@pytest.fixture
def _everyone() -> None:
    """Marks a test that signs up every actor (see `people`)."""


@pytest.fixture
async def people(
    api: httpx.AsyncClient, database_url: str, request: pytest.FixtureRequest
) -> People:
    wanted = set(OTHER_ACTORS)
    if "_everyone" not in request.fixturenames:
        callspec = getattr(request.node, "callspec", None)
        named: dict[str, Any] = callspec.params if callspec is not None else {}
        owners = {name: actor for actor, name in OTHER_ACTORS.items()}
        wanted &= {named.get("actor"), owners.get(named.get("path_owner", ""))}
    alice = await register(api, "alice")
    headers = {"author": bearer(await login(api, "alice")), "anonymous": {}}
    if "other" in wanted:
        headers["other"] = await sign_up(api, "bob")
    if "superuser" in wanted:
        headers["superuser"] = await sign_up_superuser(api, database_url)
    return People(author=alice, headers=headers)


def assert_post_shape(post: dict[str, Any]) -> None:
    assert set(post) == POST_FIELDS, post


def body_for(n: int = 0, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": f"Post {n}", "text": f"Text of post {n}"}
    body.update(overrides)
    return body


async def create(
    api: httpx.AsyncClient, headers: Headers, username: str = "alice", **body: Any
) -> dict[str, Any]:
    response = await api.post(f"{API}/{username}/post", json=body or body_for(), headers=headers)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


async def create_many(
    api: httpx.AsyncClient, headers: Headers, count: int, username: str = "alice"
) -> list[dict[str, Any]]:
    return [await create(api, headers, username, **body_for(n)) for n in range(count)]


async def get_post(api: httpx.AsyncClient, username: str, post_id: int | str) -> httpx.Response:
    return await api.get(f"{API}/{username}/post/{post_id}")


async def list_page(
    api: httpx.AsyncClient, username: str = "alice", headers: Headers | None = None, **params: Any
) -> dict[str, Any]:
    response = await api.get(f"{API}/{username}/posts", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def walk_cursor(
    api: httpx.AsyncClient, path: str, limit: int, headers: Headers | None = None
) -> list[dict[str, Any]]:
    """Every cursor page of `path`, following `next_cursor` until it is null."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(1000):
        response = await api.get(path, params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert set(page) == CURSOR_PAGE_FIELDS, page
        assert page["limit"] == limit
        assert len(page["data"]) <= limit
        pages.append(page)
        if page["next_cursor"] is None:
            assert page["has_more"] is False, page
            return pages
        assert page["has_more"] is True, page
        assert page["data"], "a page with a next cursor must not be empty"
        params = {"limit": limit, "cursor": page["next_cursor"]}
    raise AssertionError("cursor pages never end")


def ids_of(pages: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for page in pages for item in page["data"]]


async def walk_offset(
    api: httpx.AsyncClient, path: str, items_per_page: int, headers: Headers | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number in range(1, 1000):
        response = await api.get(
            path, params={"page": number, "items_per_page": items_per_page}, headers=headers or {}
        )
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert set(page) == OFFSET_PAGE_FIELDS, page
        items.extend(page["data"])
        if not page["has_more"]:
            assert len(items) == page["total_count"]
            return items
    raise AssertionError("offset pages never end")


def cursor_for(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def call(
    api: httpx.AsyncClient, endpoint: str, username: str, post_id: int | str, headers: Headers
) -> httpx.Response:
    """One request to a post endpoint, under `username`."""
    body: dict[str, Any]
    if endpoint == "create":
        body = {"title": "Intruder", "text": "Written by the caller"}
        return await api.post(f"{API}/{username}/post", json=body, headers=headers)
    if endpoint == "list":
        return await api.get(f"{API}/{username}/posts", headers=headers)
    if endpoint == "get":
        return await api.get(f"{API}/{username}/post/{post_id}", headers=headers)
    if endpoint == "patch":
        body = {"title": "Changed", "text": "Changed text", "media_url": None}
        return await api.patch(f"{API}/{username}/post/{post_id}", json=body, headers=headers)
    if endpoint == "delete":
        return await api.delete(f"{API}/{username}/post/{post_id}", headers=headers)
    if endpoint == "db_post":
        return await api.delete(f"{API}/{username}/db_post/{post_id}", headers=headers)
    raise AssertionError(f"unknown endpoint {endpoint}")


async def assert_unchanged(api: httpx.AsyncClient, original: dict[str, Any]) -> None:
    """The post reads back exactly as it was, and alice still has just that one post."""
    response = await get_post(api, "alice", original["id"])
    assert response.status_code == 200, response.text
    # The first read of the post since it was written: it comes from the database, so a
    # cached copy cannot hide a change.
    assert response.headers.get("x-cache") != "HIT"
    assert response.json() == original
    page = await list_page(api, "alice")
    assert page["data"] == [original]
    assert page["total_count"] == 1
    cursor_page = await list_page(api, "alice", limit=10)
    assert cursor_page["data"] == [original]


async def assert_gone(api: httpx.AsyncClient, username: str, post_id: int) -> None:
    error_detail(await get_post(api, username, post_id), 404)
    offset_ids = [p["id"] for p in await walk_offset(api, f"{API}/{username}/posts", 100)]
    assert post_id not in offset_ids
    assert post_id not in ids_of(await walk_cursor(api, f"{API}/{username}/posts", 100))


# --- the ownership matrix ------------------------------------------------------------------

# Expected status for every post endpoint, on the post's own path (/alice/...), per actor.
# Superusers hold every permission, posts.delete_any included.
OWN_PATH: dict[str, dict[str, int]] = {
    "create": {"author": 201, "other": 403, "superuser": 403, "anonymous": 401},
    "list": {"author": 200, "other": 200, "superuser": 200, "anonymous": 200},
    "get": {"author": 200, "other": 200, "superuser": 200, "anonymous": 200},
    "patch": {"author": 200, "other": 403, "superuser": 403, "anonymous": 401},
    "delete": {"author": 204, "other": 403, "superuser": 204, "anonymous": 401},
    "db_post": {"author": 403, "other": 403, "superuser": 204, "anonymous": 401},
}
OWN_PATH_CASES = [
    pytest.param(endpoint, actor, status, id=f"{endpoint}-{actor}-{status}")
    for endpoint, row in OWN_PATH.items()
    for actor, status in row.items()
]


@everyone
@pytest.mark.parametrize(("endpoint", "actor", "expected"), OWN_PATH_CASES)
async def test_ownership_matrix_on_the_posts_own_path(
    api: httpx.AsyncClient, people: People, endpoint: str, actor: str, expected: int
) -> None:
    original = await create(
        api,
        people.headers["author"],
        title="Original",
        text="Original text",
        media_url="https://example.com/a.png",
    )
    response = await call(api, endpoint, "alice", original["id"], people.headers[actor])

    assert response.status_code == expected, response.text
    if expected == 401:
        assert_unauthorized(response)
    elif expected >= 400:
        error_detail(response, expected)

    if expected >= 400:
        await assert_unchanged(api, original)
    elif endpoint == "create":
        created = response.json()
        assert_post_shape(created)
        assert created["created_by_user_id"] == people.author["id"]
        page = await list_page(api, "alice")
        assert [p["id"] for p in page["data"]] == [created["id"], original["id"]]
    elif endpoint == "list":
        page = response.json()
        assert page["data"] == [original]
        assert page["total_count"] == 1
    elif endpoint == "get":
        assert response.json() == original
    elif endpoint == "patch":
        patched = response.json()
        assert patched["id"] == original["id"]
        assert (patched["title"], patched["text"], patched["media_url"]) == (
            "Changed",
            "Changed text",
            None,
        )
        assert patched["created_at"] == original["created_at"]
        assert patched["updated_at"] is not None
        assert (await get_post(api, "alice", original["id"])).json() == patched
    elif endpoint == "delete":
        assert response.content == b""
        await assert_gone(api, "alice", original["id"])
        # Soft: a superuser can still remove the row.
        hard = await call(api, "db_post", "alice", original["id"], people.headers["superuser"])
        assert hard.status_code == 204, hard.text
    elif endpoint == "db_post":
        assert response.content == b""
        await assert_gone(api, "alice", original["id"])
        # Hard: not even the hard delete finds it again, nor the author.
        again = await call(api, "db_post", "alice", original["id"], people.headers["superuser"])
        error_detail(again, 404)
        error_detail(
            await call(api, "delete", "alice", original["id"], people.headers["author"]), 404
        )
    else:  # pragma: no cover - the table has no other 2xx rows
        raise AssertionError(endpoint)


# Under any username but the author's the post does not exist: 404 for whoever gets past the
# endpoint's own authentication. Where the endpoint refuses the caller before looking anything
# up (401 anonymous; 403 db_post for non-superusers) it must answer exactly as it does for a
# post that does not exist at all, so the answer says nothing about the post.
FOREIGN_PATH: dict[str, dict[str, int]] = {
    "get": {"author": 404, "other": 404, "superuser": 404, "anonymous": 404},
    "patch": {"author": 404, "other": 404, "superuser": 404, "anonymous": 401},
    "delete": {"author": 404, "other": 404, "superuser": 404, "anonymous": 401},
    "db_post": {"author": 403, "other": 403, "superuser": 404, "anonymous": 401},
}
FOREIGN_PATH_CASES = [
    pytest.param(endpoint, actor, status, path_owner, id=f"{endpoint}-{actor}-{path_owner}")
    for endpoint, row in FOREIGN_PATH.items()
    for actor, status in row.items()
    for path_owner in ("bob", "root", "ghost")
]


@pytest.mark.parametrize(("endpoint", "actor", "expected", "path_owner"), FOREIGN_PATH_CASES)
async def test_ownership_matrix_under_another_username(
    api: httpx.AsyncClient,
    people: People,
    endpoint: str,
    actor: str,
    expected: int,
    path_owner: str,
) -> None:
    original = await create(
        api, people.headers["author"], title="Original", text="Original text", media_url=None
    )
    # The path owner has a post of their own, so the path itself is a live one.
    if path_owner in ("bob", "root"):
        key = "other" if path_owner == "bob" else "superuser"
        await create(api, people.headers[key], path_owner, **body_for(99))

    response = await call(api, endpoint, path_owner, original["id"], people.headers[actor])

    detail = error_detail(response, expected)
    if expected != 404:
        # The same refusal as for a post id that exists nowhere.
        missing = await call(api, endpoint, path_owner, MAX_ID, people.headers[actor])
        assert missing.status_code == expected
        assert missing.json()["detail"] == detail
    await assert_unchanged(api, original)


@everyone
async def test_lists_under_another_username_never_show_the_post(
    api: httpx.AsyncClient, people: People
) -> None:
    mine = await create_many(api, people.headers["author"], 3)
    theirs = await create(api, people.headers["other"], "bob", **body_for(7))

    for headers in people.headers.values():
        page = await list_page(api, "bob", headers)
        assert [p["id"] for p in page["data"]] == [theirs["id"]]
        assert page["total_count"] == 1
        cursor_page = await list_page(api, "bob", headers, limit=100)
        assert [p["id"] for p in cursor_page["data"]] == [theirs["id"]]
        root_page = await list_page(api, "root", headers)
        assert root_page == {
            "data": [],
            "total_count": 0,
            "has_more": False,
            "page": 1,
            "items_per_page": 10,
        }
    alice_page = await list_page(api, "alice")
    assert [p["id"] for p in alice_page["data"]] == [p["id"] for p in reversed(mine)]
    assert all(p["created_by_user_id"] == people.author["id"] for p in alice_page["data"])


@everyone
async def test_superuser_cannot_publish_under_another_username(
    api: httpx.AsyncClient, people: People
) -> None:
    response = await api.post(
        f"{API}/alice/post", json=body_for(), headers=people.headers["superuser"]
    )
    error_detail(response, 403)
    assert (await list_page(api, "alice"))["total_count"] == 0


@pytest.mark.parametrize("actor", ["author", "other", "superuser", "anonymous"])
async def test_unknown_username_is_404_for_reads(
    api: httpx.AsyncClient, people: People, actor: str
) -> None:
    post = await create(api, people.headers["author"])
    headers = people.headers[actor]
    for path in (f"{API}/ghost/posts", f"{API}/ghost/post/{post['id']}"):
        error_detail(await api.get(path, headers=headers), 404)
    error_detail(await api.get(f"{API}/ghost/posts", params={"limit": 5}, headers=headers), 404)


async def test_publishing_under_an_unknown_username_is_404(
    api: httpx.AsyncClient, people: People
) -> None:
    response = await api.post(
        f"{API}/ghost/post", json=body_for(), headers=people.headers["author"]
    )
    error_detail(response, 404)
    assert_unauthorized(await api.post(f"{API}/ghost/post", json=body_for()))


# --- creating ------------------------------------------------------------------------------


async def test_create_returns_the_post(api: httpx.AsyncClient, people: People) -> None:
    before = datetime.now(UTC)
    response = await api.post(
        f"{API}/alice/post",
        json={
            "title": "  Hello world  ",
            "text": "  My first post.  ",
            "media_url": "https://example.com/pic.png",
        },
        headers=people.headers["author"],
    )

    assert response.status_code == 201, response.text
    post = response.json()
    assert_post_shape(post)
    assert isinstance(post["id"], int)
    assert post["id"] >= 1
    assert post["title"] == "Hello world"
    assert post["text"] == "  My first post.  "
    assert post["media_url"] == "https://example.com/pic.png"
    assert post["created_by_user_id"] == people.author["id"]
    created = parse_time(post["created_at"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert post["updated_at"] is None
    read = await get_post(api, "alice", post["id"])
    assert read.status_code == 200, read.text
    assert read.json() == post


async def test_create_without_media_url(api: httpx.AsyncClient, people: People) -> None:
    post = await create(api, people.headers["author"], title="No media", text="Just text")
    assert post["media_url"] is None


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        pytest.param("title", "ab", "ab", id="title-2"),
        pytest.param("title", "t" * 30, "t" * 30, id="title-30"),
        pytest.param("title", "   " + "t" * 30 + "\n\t ", "t" * 30, id="title-30-padded"),
        pytest.param("title", "Héllo wörld 🎉", "Héllo wörld 🎉", id="title-unicode"),
        pytest.param("text", "x", "x", id="text-1"),
        pytest.param("text", "x" * MAX_TEXT, "x" * MAX_TEXT, id="text-max"),
        pytest.param("text", "é" * MAX_TEXT, "é" * MAX_TEXT, id="text-max-multibyte"),
        pytest.param("media_url", "http://example.com/a", "http://example.com/a", id="http"),
        pytest.param("media_url", "https://example.com/a", "https://example.com/a", id="https"),
        pytest.param(
            "media_url",
            "https://example.com/" + "a" * (2048 - 20),
            "https://example.com/" + "a" * (2048 - 20),
            id="url-2048",
        ),
        pytest.param("media_url", None, None, id="url-null"),
    ],
)
async def test_create_accepts_boundary_values(
    api: httpx.AsyncClient, people: People, field: str, value: Any, stored: Any
) -> None:
    response = await api.post(
        f"{API}/alice/post", json=body_for(**{field: value}), headers=people.headers["author"]
    )
    assert response.status_code == 201, response.text
    post = response.json()
    assert post[field] == stored
    assert (await get_post(api, "alice", post["id"])).json()[field] == stored


INVALID_BODIES = [
    pytest.param({"text": "no title"}, id="title-missing"),
    pytest.param({"title": "No text"}, id="text-missing"),
    pytest.param(body_for(title=None), id="title-null"),
    pytest.param(body_for(text=None), id="text-null"),
    pytest.param(body_for(title=""), id="title-empty"),
    pytest.param(body_for(title="a"), id="title-1"),
    pytest.param(body_for(title=" a "), id="title-1-after-strip"),
    pytest.param(body_for(title="     "), id="title-blank"),
    pytest.param(body_for(title="t" * 31), id="title-31"),
    pytest.param(body_for(title=12345), id="title-number"),
    pytest.param(body_for(title=["ab"]), id="title-list"),
    pytest.param(body_for(text=""), id="text-empty"),
    pytest.param(body_for(text="x" * (MAX_TEXT + 1)), id="text-too-long"),
    pytest.param(body_for(text={"a": 1}), id="text-object"),
    pytest.param(body_for(title="nul\x00byte"), id="title-nul-byte"),
    pytest.param(body_for(text="nul\x00byte"), id="text-nul-byte"),
    pytest.param(body_for(media_url="ftp://example.com/a.png"), id="url-ftp"),
    pytest.param(body_for(media_url="javascript:alert(1)"), id="url-javascript"),
    pytest.param(body_for(media_url="data:image/png;base64,AAAA"), id="url-data"),
    pytest.param(body_for(media_url="not a url"), id="url-garbage"),
    pytest.param(body_for(media_url="http://"), id="url-no-host"),
    pytest.param(body_for(media_url="/relative/path.png"), id="url-relative"),
    pytest.param(body_for(media_url="https://example.com/" + "a" * 2029), id="url-2049"),
    # Short enough as sent, too long once percent-encoded.
    pytest.param(body_for(media_url="https://example.com/" + "é" * 340), id="url-encoded-long"),
    pytest.param(body_for(media_url=42), id="url-number"),
    pytest.param(body_for(id=5), id="extra-id"),
    pytest.param(body_for(created_by_user_id=2), id="extra-author"),
    pytest.param(body_for(is_deleted=True), id="extra-is-deleted"),
    pytest.param(body_for(created_at="2020-01-01T00:00:00Z"), id="extra-created-at"),
    pytest.param(body_for(unknown="x"), id="extra-unknown"),
    pytest.param([body_for()], id="list-body"),
    pytest.param("just a string", id="string-body"),
]


@pytest.mark.parametrize("body", INVALID_BODIES)
async def test_create_rejects_invalid_bodies(
    api: httpx.AsyncClient, people: People, body: Any
) -> None:
    response = await api.post(f"{API}/alice/post", json=body, headers=people.headers["author"])
    detail = error_detail(response, 422)
    assert isinstance(detail, list)
    assert (await list_page(api, "alice"))["total_count"] == 0


async def test_create_rejects_malformed_json(api: httpx.AsyncClient, people: People) -> None:
    headers = {**people.headers["author"], "content-type": "application/json"}
    response = await api.post(f"{API}/alice/post", content=b'{"title": "ab", ', headers=headers)
    error_detail(response, 422)
    response = await api.post(f"{API}/alice/post", headers=people.headers["author"])
    error_detail(response, 422)
    assert (await list_page(api, "alice"))["total_count"] == 0


async def test_create_with_a_bad_token_is_401(api: httpx.AsyncClient, people: People) -> None:
    response = await api.post(f"{API}/alice/post", json=body_for(), headers=bearer("not-a-token"))
    assert_unauthorized(response)
    assert (await list_page(api, "alice"))["total_count"] == 0


# --- reading one post ----------------------------------------------------------------------

BAD_IDS = ["0", "-1", str(2**31), str(2**63), str(10**30), "abc", "1.5", "1e3", "%20"]
ID_ENDPOINTS = [("get", "anonymous"), ("patch", "author"), ("delete", "author")]
ID_ENDPOINTS += [("db_post", "superuser")]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize(("endpoint", "actor"), ID_ENDPOINTS)
async def test_out_of_range_ids_are_422(
    api: httpx.AsyncClient, people: People, endpoint: str, actor: str, bad_id: str
) -> None:
    post = await create(api, people.headers["author"])
    response = await call(api, endpoint, "alice", bad_id, people.headers[actor])
    detail = error_detail(response, 422)
    assert isinstance(detail, list)
    assert any(err["loc"][-1] == "id" for err in detail), detail
    assert (await get_post(api, "alice", post["id"])).json() == post


@pytest.mark.parametrize(("endpoint", "actor"), ID_ENDPOINTS)
async def test_largest_id_is_an_ordinary_404(
    api: httpx.AsyncClient, people: People, endpoint: str, actor: str
) -> None:
    response = await call(api, endpoint, "alice", MAX_ID, people.headers[actor])
    error_detail(response, 404)


@everyone
async def test_get_post_returns_it_to_anyone(api: httpx.AsyncClient, people: People) -> None:
    post = await create(api, people.headers["author"], **body_for(1, media_url="http://x.io/"))
    for headers in people.headers.values():
        response = await api.get(f"{API}/alice/post/{post['id']}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == post
        assert_post_shape(response.json())


# --- editing -------------------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(api: httpx.AsyncClient, people: People) -> None:
    post = await create(
        api, people.headers["author"], title="Title", text="Text", media_url="https://e.com/a"
    )
    response = await api.patch(
        f"{API}/alice/post/{post['id']}",
        json={"text": "New text"},
        headers=people.headers["author"],
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert_post_shape(patched)
    assert patched["text"] == "New text"
    assert patched["title"] == "Title"
    assert patched["media_url"] == "https://e.com/a"
    assert patched["id"] == post["id"]
    assert patched["created_by_user_id"] == people.author["id"]
    assert patched["created_at"] == post["created_at"]
    assert patched["updated_at"] is not None
    assert parse_time(patched["updated_at"]) >= parse_time(post["created_at"])
    assert (await get_post(api, "alice", post["id"])).json() == patched


async def test_patch_strips_the_title_and_sets_media_url(
    api: httpx.AsyncClient, people: People
) -> None:
    post = await create(api, people.headers["author"])
    response = await api.patch(
        f"{API}/alice/post/{post['id']}",
        json={"title": "  Tidy  ", "media_url": "https://example.com/b.jpg"},
        headers=people.headers["author"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Tidy"
    assert response.json()["media_url"] == "https://example.com/b.jpg"
    assert (await get_post(api, "alice", post["id"])).json() == response.json()


async def test_patch_null_media_url_clears_it(api: httpx.AsyncClient, people: People) -> None:
    post = await create(api, people.headers["author"], **body_for(media_url="https://e.com/a"))
    response = await api.patch(
        f"{API}/alice/post/{post['id']}", json={"media_url": None}, headers=people.headers["author"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["media_url"] is None
    assert (await get_post(api, "alice", post["id"])).json()["media_url"] is None


async def test_patch_with_empty_body_changes_nothing(
    api: httpx.AsyncClient, people: People
) -> None:
    post = await create(api, people.headers["author"])
    response = await api.patch(
        f"{API}/alice/post/{post['id']}", json={}, headers=people.headers["author"]
    )
    assert response.status_code == 200, response.text
    assert response.json() == post
    assert (await get_post(api, "alice", post["id"])).json() == post


PATCH_INVALID_BODIES = [
    pytest.param({"title": None}, id="title-null"),
    pytest.param({"text": None}, id="text-null"),
    pytest.param({"title": "a"}, id="title-1"),
    pytest.param({"title": "   "}, id="title-blank"),
    pytest.param({"title": "t" * 31}, id="title-31"),
    pytest.param({"text": ""}, id="text-empty"),
    pytest.param({"text": "x" * (MAX_TEXT + 1)}, id="text-too-long"),
    pytest.param({"text": "nul\x00byte"}, id="text-nul-byte"),
    pytest.param({"title": "nul\x00byte"}, id="title-nul-byte"),
    pytest.param({"media_url": "ftp://example.com/a"}, id="url-ftp"),
    pytest.param({"media_url": "https://example.com/" + "a" * 2029}, id="url-2049"),
    pytest.param({"created_by_user_id": 2}, id="extra-author"),
    pytest.param({"id": 99}, id="extra-id"),
    pytest.param({"is_deleted": True}, id="extra-is-deleted"),
    pytest.param({"title": "Fine", "owner": "bob"}, id="extra-with-valid"),
    pytest.param(["title"], id="list-body"),
]


@pytest.mark.parametrize("body", PATCH_INVALID_BODIES)
async def test_patch_rejects_invalid_bodies(
    api: httpx.AsyncClient, people: People, body: Any
) -> None:
    post = await create(api, people.headers["author"], **body_for(media_url="https://e.com/a"))
    response = await api.patch(
        f"{API}/alice/post/{post['id']}", json=body, headers=people.headers["author"]
    )
    detail = error_detail(response, 422)
    assert isinstance(detail, list)
    assert (await get_post(api, "alice", post["id"])).json() == post


# --- deleting ------------------------------------------------------------------------------


@everyone
async def test_soft_deleted_post_cannot_be_read_or_changed(
    api: httpx.AsyncClient, people: People
) -> None:
    posts = await create_many(api, people.headers["author"], 5)
    doomed = posts[2]
    # Warm the list and item responses, so a stale copy would show.
    await list_page(api, "alice")
    await list_page(api, "alice", limit=10)
    await get_post(api, "alice", doomed["id"])

    response = await api.delete(
        f"{API}/alice/post/{doomed['id']}", headers=people.headers["author"]
    )
    assert response.status_code == 204, response.text

    await assert_gone(api, "alice", doomed["id"])
    page = await list_page(api, "alice")
    assert page["total_count"] == 4
    assert [p["id"] for p in page["data"]] == [p["id"] for p in reversed(posts) if p != doomed]
    for actor in ("author", "other", "superuser", "anonymous"):
        response = await api.get(f"{API}/alice/post/{doomed['id']}", headers=people.headers[actor])
        error_detail(response, 404)
    # Nobody can change or re-delete it, not even the author: for them all it is not there.
    for actor in ("author", "other", "superuser"):
        headers = people.headers[actor]
        patched = await api.patch(
            f"{API}/alice/post/{doomed['id']}", json={"title": "Back"}, headers=headers
        )
        error_detail(patched, 404)
        error_detail(await api.delete(f"{API}/alice/post/{doomed['id']}", headers=headers), 404)
    await assert_gone(api, "alice", doomed["id"])
    # Still there for the hard delete, once.
    hard = await api.delete(
        f"{API}/alice/db_post/{doomed['id']}", headers=people.headers["superuser"]
    )
    assert hard.status_code == 204, hard.text
    again = await api.delete(
        f"{API}/alice/db_post/{doomed['id']}", headers=people.headers["superuser"]
    )
    error_detail(again, 404)
    assert (await list_page(api, "alice"))["total_count"] == 4


@everyone
async def test_hard_delete_removes_only_that_post(api: httpx.AsyncClient, people: People) -> None:
    posts = await create_many(api, people.headers["author"], 3)
    bobs = await create(api, people.headers["other"], "bob", **body_for(9))
    response = await api.delete(
        f"{API}/alice/db_post/{posts[1]['id']}", headers=people.headers["superuser"]
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    await assert_gone(api, "alice", posts[1]["id"])
    page = await list_page(api, "alice")
    assert [p["id"] for p in page["data"]] == [posts[2]["id"], posts[0]["id"]]
    assert (await get_post(api, "bob", bobs["id"])).json() == bobs


# --- authors that are deleted or renamed ---------------------------------------------------


@everyone
async def test_posts_of_a_soft_deleted_user_are_404(api: httpx.AsyncClient, people: People) -> None:
    posts = await create_many(api, people.headers["author"], 3)
    bobs = await create(api, people.headers["other"], "bob", **body_for(9))
    await list_page(api, "alice")
    await get_post(api, "alice", posts[0]["id"])

    response = await api.delete(f"{API}/user/alice", headers=people.headers["author"])
    assert response.status_code == 204, response.text

    for post in posts:
        for actor in ACTORS:
            got = await api.get(f"{API}/alice/post/{post['id']}", headers=people.headers[actor])
            error_detail(got, 404)
    for params in ({}, {"page": 1, "items_per_page": 100}, {"limit": 100}):
        error_detail(await api.get(f"{API}/alice/posts", params=params), 404)
    # The author's token died with the account.
    assert_unauthorized(
        await api.patch(
            f"{API}/alice/post/{posts[0]['id']}",
            json={"title": "Zombie"},
            headers=people.headers["author"],
        )
    )
    assert_unauthorized(
        await api.post(f"{API}/alice/post", json=body_for(), headers=people.headers["author"])
    )
    # Nobody else can write them either.
    for actor in ("other", "superuser"):
        headers = people.headers[actor]
        error_detail(
            await api.patch(
                f"{API}/alice/post/{posts[0]['id']}", json={"title": "Zombie"}, headers=headers
            ),
            404,
        )
        error_detail(await api.delete(f"{API}/alice/post/{posts[0]['id']}", headers=headers), 404)
    error_detail(
        await api.delete(f"{API}/alice/db_post/{posts[0]['id']}", headers=people.headers["other"]),
        403,
    )
    # A superuser can still remove them for good.
    for post in posts:
        response = await api.delete(
            f"{API}/alice/db_post/{post['id']}", headers=people.headers["superuser"]
        )
        assert response.status_code == 204, response.text
        again = await api.delete(
            f"{API}/alice/db_post/{post['id']}", headers=people.headers["superuser"]
        )
        error_detail(again, 404)
    # And they never turn up under another name.
    error_detail(
        await api.delete(
            f"{API}/bob/db_post/{posts[0]['id']}", headers=people.headers["superuser"]
        ),
        404,
    )
    assert (await get_post(api, "bob", bobs["id"])).json() == bobs


@everyone
async def test_hard_deleting_a_user_removes_their_posts(
    api: httpx.AsyncClient, people: People
) -> None:
    posts = await create_many(api, people.headers["author"], 3)
    bobs = await create(api, people.headers["other"], "bob", **body_for(9))
    await list_page(api, "alice")
    await list_page(api, "alice", limit=2)
    await get_post(api, "alice", posts[0]["id"])

    response = await api.delete(f"{API}/db_user/alice", headers=people.headers["superuser"])
    assert response.status_code == 204, response.text

    for post in posts:
        error_detail(await get_post(api, "alice", post["id"]), 404)
        error_detail(
            await api.delete(
                f"{API}/alice/db_post/{post['id']}", headers=people.headers["superuser"]
            ),
            404,
        )
    for params in ({}, {"limit": 2}):
        error_detail(await api.get(f"{API}/alice/posts", params=params), 404)
    # The username is free again: its new owner starts with no posts, and the old ids stay gone.
    await register(api, "alice", email="new-alice@example.com")
    headers = bearer(await login(api, "alice"))
    page = await list_page(api, "alice")
    assert page["data"] == []
    assert page["total_count"] == 0
    assert (await list_page(api, "alice", limit=10))["data"] == []
    for post in posts:
        error_detail(await get_post(api, "alice", post["id"]), 404)
        error_detail(
            await api.patch(
                f"{API}/alice/post/{post['id']}", json={"title": "Mine?"}, headers=headers
            ),
            404,
        )
    assert (await get_post(api, "bob", bobs["id"])).json() == bobs


async def test_posts_follow_their_author_when_renamed(
    api: httpx.AsyncClient, people: People
) -> None:
    post = await create(api, people.headers["author"])
    assert (await get_post(api, "alice", post["id"])).status_code == 200
    await list_page(api, "alice")

    response = await api.patch(
        f"{API}/user/alice", json={"username": "alicia"}, headers=people.headers["author"]
    )
    assert response.status_code == 200, response.text

    assert (await get_post(api, "alicia", post["id"])).json() == post
    assert [p["id"] for p in (await list_page(api, "alicia"))["data"]] == [post["id"]]
    error_detail(await get_post(api, "alice", post["id"]), 404)
    error_detail(await api.get(f"{API}/alice/posts"), 404)
    error_detail(
        await api.patch(
            f"{API}/alice/post/{post['id']}",
            json={"title": "Old path"},
            headers=people.headers["author"],
        ),
        404,
    )
    # Someone who takes the old name does not get the post.
    await register(api, "alice", email="another-alice@example.com")
    headers = bearer(await login(api, "alice"))
    error_detail(await get_post(api, "alice", post["id"]), 404)
    error_detail(
        await api.delete(f"{API}/alice/post/{post['id']}", headers=headers),
        404,
    )
    assert (await get_post(api, "alicia", post["id"])).json() == post


# --- offset pages --------------------------------------------------------------------------


async def test_offset_pages_newest_first(api: httpx.AsyncClient, people: People) -> None:
    posts = await create_many(api, people.headers["author"], 25)
    newest_first = [p["id"] for p in reversed(posts)]

    first = await list_page(api, "alice", page=1, items_per_page=10)
    assert set(first) == OFFSET_PAGE_FIELDS
    assert [p["id"] for p in first["data"]] == newest_first[:10]
    assert (first["total_count"], first["has_more"], first["page"], first["items_per_page"]) == (
        25,
        True,
        1,
        10,
    )
    for item in first["data"]:
        assert_post_shape(item)
    stamps = [parse_time(p["created_at"]) for p in first["data"]]
    assert stamps == sorted(stamps, reverse=True)

    second = await list_page(api, "alice", page=2, items_per_page=10)
    assert [p["id"] for p in second["data"]] == newest_first[10:20]
    assert second["has_more"] is True

    last = await list_page(api, "alice", page=3, items_per_page=10)
    assert [p["id"] for p in last["data"]] == newest_first[20:]
    assert (last["total_count"], last["has_more"]) == (25, False)

    beyond = await list_page(api, "alice", page=4, items_per_page=10)
    assert beyond["data"] == []
    assert (beyond["total_count"], beyond["has_more"], beyond["page"]) == (25, False, 4)

    everything = await list_page(api, "alice", items_per_page=100)
    assert [p["id"] for p in everything["data"]] == newest_first


async def test_offset_page_defaults(api: httpx.AsyncClient, people: People) -> None:
    posts = await create_many(api, people.headers["author"], 12)
    page = await list_page(api, "alice")
    assert page["page"] == 1
    assert page["items_per_page"] == 10
    assert page["total_count"] == 12
    assert page["has_more"] is True
    assert [p["id"] for p in page["data"]] == [p["id"] for p in reversed(posts)][:10]


async def test_empty_list(api: httpx.AsyncClient, people: People) -> None:
    page = await list_page(api, "alice")
    assert page == {
        "data": [],
        "total_count": 0,
        "has_more": False,
        "page": 1,
        "items_per_page": 10,
    }
    cursor_page = await list_page(api, "alice", limit=5)
    assert cursor_page == {"data": [], "limit": 5, "next_cursor": None, "has_more": False}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"page": 0}, id="page-0"),
        pytest.param({"page": -1}, id="page-negative"),
        pytest.param({"page": "x"}, id="page-text"),
        pytest.param({"page": ""}, id="page-empty"),
        pytest.param({"page": 10**30}, id="page-huge"),
        pytest.param({"items_per_page": 0}, id="ipp-0"),
        pytest.param({"items_per_page": -5}, id="ipp-negative"),
        pytest.param({"items_per_page": 101}, id="ipp-101"),
        pytest.param({"items_per_page": 10**30}, id="ipp-huge"),
        pytest.param({"items_per_page": "ten"}, id="ipp-text"),
    ],
)
async def test_offset_pages_reject_bad_params(
    api: httpx.AsyncClient, people: People, params: dict[str, Any]
) -> None:
    await create(api, people.headers["author"])
    response = await api.get(f"{API}/alice/posts", params=params)
    error_detail(response, 422)


@pytest.mark.parametrize("items_per_page", [1, 100])
async def test_offset_pages_accept_size_bounds(
    api: httpx.AsyncClient, people: People, items_per_page: int
) -> None:
    await create_many(api, people.headers["author"], 3)
    page = await list_page(api, "alice", items_per_page=items_per_page)
    assert len(page["data"]) == min(items_per_page, 3)
    assert page["items_per_page"] == items_per_page


# --- cursor pages --------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "limit"), [(23, 5), (10, 5), (10, 10), (3, 100), (1, 1)])
async def test_cursor_pages_walk_every_post_once_newest_first(
    api: httpx.AsyncClient, people: People, count: int, limit: int
) -> None:
    posts = await create_many(api, people.headers["author"], count)
    pages = await walk_cursor(api, f"{API}/alice/posts", limit)

    ids = ids_of(pages)
    assert ids == sorted((p["id"] for p in posts), reverse=True)
    assert len(pages) == -(-count // limit)
    assert all(len(page["data"]) == limit for page in pages[:-1])
    for page in pages:
        for item in page["data"]:
            assert_post_shape(item)
            assert item["created_by_user_id"] == people.author["id"]
    assert pages[0]["data"][0] == (await get_post(api, "alice", posts[-1]["id"])).json()


async def test_cursor_default_limit(api: httpx.AsyncClient, people: People) -> None:
    posts = await create_many(api, people.headers["author"], 12)
    first = await list_page(api, "alice", limit=10)
    page = await list_page(api, "alice", cursor=first["next_cursor"])
    assert set(page) == CURSOR_PAGE_FIELDS
    assert [p["id"] for p in page["data"]] == [posts[1]["id"], posts[0]["id"]]
    assert page["has_more"] is False
    assert page["next_cursor"] is None


async def test_cursor_walk_is_stable_while_posts_are_created(
    api: httpx.AsyncClient, people: People
) -> None:
    old = await create_many(api, people.headers["author"], 10)
    expected = sorted((p["id"] for p in old), reverse=True)

    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    new: list[dict[str, Any]] = []
    for step in range(100):
        page = await list_page(api, "alice", **params)
        seen.extend(p["id"] for p in page["data"])
        # New posts arrive between every pair of page requests.
        new += [await create(api, people.headers["author"], **body_for(100 + step))]
        if page["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}

    assert seen == expected
    new_ids = {p["id"] for p in new}
    assert not new_ids & set(seen)
    # A fresh walk sees old and new alike, each once.
    fresh = ids_of(await walk_cursor(api, f"{API}/alice/posts", 4))
    assert fresh == sorted(new_ids | set(expected), reverse=True)


@everyone
async def test_cursor_walk_skips_posts_deleted_while_walking(
    api: httpx.AsyncClient, people: People
) -> None:
    posts = await create_many(api, people.headers["author"], 12)
    ids = sorted((p["id"] for p in posts), reverse=True)
    author = people.headers["author"]

    first = await list_page(api, "alice", limit=4)
    assert [p["id"] for p in first["data"]] == ids[:4]
    # Delete the post the cursor points at, one on the next page and one further on.
    for victim in (ids[3], ids[5], ids[10]):
        response = await api.delete(f"{API}/alice/post/{victim}", headers=author)
        assert response.status_code == 204, response.text
    hard = await api.delete(f"{API}/alice/db_post/{ids[6]}", headers=people.headers["superuser"])
    assert hard.status_code == 204, hard.text

    seen = [p["id"] for p in first["data"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        page = await list_page(api, "alice", limit=4, cursor=cursor)
        seen.extend(p["id"] for p in page["data"])
        cursor = page["next_cursor"]

    gone = {ids[3], ids[5], ids[6], ids[10]}
    assert seen[:4] == ids[:4]
    assert seen[4:] == [i for i in ids[4:] if i not in gone]
    assert len(seen) == len(set(seen))


@everyone
async def test_offset_and_cursor_pages_list_the_same_posts(
    api: httpx.AsyncClient, people: People
) -> None:
    posts = await create_many(api, people.headers["author"], 17)
    await create_many(api, people.headers["other"], 4, username="bob")
    for victim in (posts[0], posts[8], posts[16]):
        response = await api.delete(
            f"{API}/alice/post/{victim['id']}", headers=people.headers["author"]
        )
        assert response.status_code == 204, response.text

    by_offset = [p["id"] for p in await walk_offset(api, f"{API}/alice/posts", 4)]
    by_cursor = ids_of(await walk_cursor(api, f"{API}/alice/posts", 4))
    assert by_offset == by_cursor
    assert len(by_cursor) == 14
    assert (await list_page(api, "alice"))["total_count"] == 14


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": -1}, id="limit-negative"),
        pytest.param({"limit": 101}, id="limit-101"),
        pytest.param({"limit": 10**30}, id="limit-huge"),
        pytest.param({"limit": "many"}, id="limit-text"),
        pytest.param({"limit": 5, "page": 1}, id="limit-and-page"),
        pytest.param({"limit": 5, "items_per_page": 5}, id="limit-and-items-per-page"),
        pytest.param({"cursor": "CURSOR", "page": 2}, id="cursor-and-page"),
        pytest.param({"cursor": "CURSOR", "items_per_page": 5}, id="cursor-and-items"),
        pytest.param(
            {"cursor": "CURSOR", "limit": 5, "page": 1, "items_per_page": 5}, id="all-four"
        ),
    ],
)
@pytest.mark.parametrize("path", ["/alice/posts", "/users"])
async def test_cursor_pages_reject_bad_params(
    api: httpx.AsyncClient, people: People, path: str, params: dict[str, Any]
) -> None:
    await create_many(api, people.headers["author"], 12)
    first = await list_page(api, "alice", limit=10)
    if params.get("cursor") == "CURSOR":
        params = {**params, "cursor": first["next_cursor"]}
    response = await api.get(f"{API}{path}", params=params)
    error_detail(response, 422)


MALFORMED_CURSORS = [
    pytest.param("garbage", id="garbage"),
    pytest.param("!!!!", id="punctuation"),
    pytest.param("====", id="padding"),
    pytest.param("é", id="non-ascii"),
    pytest.param("x" * 65, id="too-long"),
    pytest.param("A" * 64, id="long-base64"),
    pytest.param(cursor_for("v2:1"), id="unknown-version"),
    pytest.param(cursor_for("v1:abc"), id="not-a-number"),
    pytest.param(cursor_for("v1:-1"), id="negative"),
    pytest.param(cursor_for("v1:2147483648"), id="beyond-32-bit"),
    pytest.param(cursor_for("v1:" + "9" * 40), id="huge"),
    pytest.param(cursor_for("v1"), id="no-separator"),
    pytest.param(cursor_for("\xff\xfe"), id="not-utf8-text"),
    pytest.param(base64.urlsafe_b64encode(b"\xff\xfe:1").decode(), id="binary"),
]


@pytest.mark.parametrize("cursor", MALFORMED_CURSORS)
@pytest.mark.parametrize("path", ["/alice/posts", "/users"])
async def test_malformed_cursor_is_422(
    api: httpx.AsyncClient, people: People, path: str, cursor: str
) -> None:
    await create_many(api, people.headers["author"], 3)
    all_params: list[dict[str, Any]] = [{"cursor": cursor}, {"cursor": cursor, "limit": 2}]
    for params in all_params:
        response = await api.get(f"{API}{path}", params=params)
        error_detail(response, 422)


async def test_cursor_pages_of_an_unknown_user_are_404(
    api: httpx.AsyncClient, people: People
) -> None:
    await create_many(api, people.headers["author"], 5)
    first = await list_page(api, "alice", limit=2)
    response = await api.get(
        f"{API}/ghost/posts", params={"limit": 2, "cursor": first["next_cursor"]}
    )
    error_detail(response, 404)


# --- cursor pages of users -----------------------------------------------------------------


@everyone
async def test_users_cursor_pages_walk_active_users_once_in_id_order(
    api: httpx.AsyncClient, people: People
) -> None:
    for name in ("carol", "dave", "erin", "frank", "grace", "heidi", "ivan"):
        await register(api, name)
    for name in ("dave", "heidi"):
        token = await login(api, name)
        response = await api.delete(f"{API}/user/{name}", headers=bearer(token))
        assert response.status_code == 204, response.text

    expected = ["alice", "bob", "root", "carol", "erin", "frank", "grace", "ivan"]
    for limit in (1, 2, 3, 8, 100):
        pages = await walk_cursor(api, f"{API}/users", limit)
        users = [user for page in pages for user in page["data"]]
        assert [u["username"] for u in users] == expected
        ids = [u["id"] for u in users]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert len(pages) == -(-len(expected) // limit)
        assert pages[-1]["next_cursor"] is None
        assert pages[-1]["has_more"] is False

    by_offset = await walk_offset(api, f"{API}/users", 3)
    by_cursor = [u for page in await walk_cursor(api, f"{API}/users", 3) for u in page["data"]]
    assert [u["id"] for u in by_offset] == [u["id"] for u in by_cursor]
    assert by_offset == by_cursor


@everyone
async def test_users_cursor_walk_survives_deletions_and_registrations(
    api: httpx.AsyncClient, people: People
) -> None:
    for name in ("carol", "dave", "erin", "frank"):
        await register(api, name)
    # alice bob root carol dave erin frank
    response = await api.get(f"{API}/users", params={"limit": 3})
    assert response.status_code == 200, response.text
    page = response.json()
    assert [u["username"] for u in page["data"]] == ["alice", "bob", "root"]

    # The user named by the cursor leaves, so does one further on; a newcomer arrives.
    assert (await api.delete(f"{API}/user/bob", headers=people.headers["other"])).status_code == 204
    assert (
        await api.delete(f"{API}/db_user/erin", headers=people.headers["superuser"])
    ).status_code == 204
    await register(api, "gina")

    seen = [u["username"] for u in page["data"]]
    cursor = page["next_cursor"]
    while cursor is not None:
        response = await api.get(f"{API}/users", params={"limit": 3, "cursor": cursor})
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(u["username"] for u in page["data"])
        cursor = page["next_cursor"]
    assert seen == ["alice", "bob", "root", "carol", "dave", "frank", "gina"]


@everyone
async def test_users_cursor_pages_show_views_by_viewer(
    api: httpx.AsyncClient, people: People
) -> None:
    anonymous = (await api.get(f"{API}/users", params={"limit": 10})).json()
    assert all("email" not in user for user in anonymous["data"])
    as_alice = (
        await api.get(f"{API}/users", params={"limit": 10}, headers=people.headers["author"])
    ).json()
    private = [user["username"] for user in as_alice["data"] if "email" in user]
    assert private == ["alice"]
    as_root = (
        await api.get(f"{API}/users", params={"limit": 10}, headers=people.headers["superuser"])
    ).json()
    assert all("email" in user for user in as_root["data"])
    assert all("hashed_password" not in user for user in as_root["data"])


async def test_users_cursor_pages_when_nobody_is_there(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{API}/users", params={"limit": 5})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": [], "limit": 5, "next_cursor": None, "has_more": False}
