"""Client-side caching: Cache-Control by caller and outcome, ETags and conditional GETs."""

from __future__ import annotations

import httpx

from tests.helpers.features import needs
from tests.helpers.http import API, AppClientFactory, Headers, bearer, login, register, sign_up
from tests.helpers.settings import PASSWORD

pytestmark = needs("posts")


def directives(response: httpx.Response) -> set[str]:
    value = response.headers.get("Cache-Control", "")
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers.get("Cache-Control") == "no-store", (
        response.status_code,
        response.headers.get("Cache-Control"),
    )


def vary(response: httpx.Response) -> set[str]:
    return {
        part.strip().lower()
        for value in response.headers.get_list("Vary")
        for part in value.split(",")
        if part.strip()
    }


async def author_with_post(client: httpx.AsyncClient) -> tuple[Headers, int]:
    headers = await sign_up(client, "alice")
    response = await client.post(
        f"{API}/alice/post", json={"title": "Hello", "text": "text"}, headers=headers
    )
    assert response.status_code == 201
    post_id: int = response.json()["id"]
    return headers, post_id


async def test_an_anonymous_get_is_public_with_an_etag(client: httpx.AsyncClient) -> None:
    _, post_id = await author_with_post(client)
    for url in (f"{API}/user/alice", f"{API}/alice/post/{post_id}", f"{API}/alice/posts"):
        response = await client.get(url)
        assert response.status_code == 200
        assert directives(response) == {"public", "max-age=30"}, url
        etag = response.headers["ETag"]
        assert etag.startswith('"')
        assert etag.endswith('"')
        assert len(etag) > 2
        assert "authorization" in vary(response)

        again = await client.get(url)
        assert again.headers["ETag"] == etag  # same content, same tag


async def test_if_none_match_gets_a_304_without_a_body(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    url = f"{API}/user/alice"
    first = await client.get(url)
    etag = first.headers["ETag"]

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["ETag"] == etag
        assert "content-type" not in response.headers
        assert response.headers.get("content-length", "0") == "0"
        assert directives(response) == {"public", "max-age=30"}
        assert "authorization" in vary(response)

    for header in ('"something-else"', etag.replace('"', "")):
        response = await client.get(url, headers={"If-None-Match": header})
        assert response.status_code == 200, header
        assert response.content == first.content
        assert response.headers["ETag"] == etag


async def test_the_etag_changes_with_the_content(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, "alice")
    url = f"{API}/user/alice"
    etag = (await client.get(url)).headers["ETag"]
    response = await client.patch(url, json={"name": "Alice Renamed"}, headers=headers)
    assert response.status_code == 200
    response = await client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["name"] == "Alice Renamed"
    assert response.headers["ETag"] != etag


async def test_an_authenticated_get_is_private(client: httpx.AsyncClient) -> None:
    headers, post_id = await author_with_post(client)
    for url in (
        f"{API}/user/me/",
        f"{API}/user/alice",
        f"{API}/alice/post/{post_id}",
        f"{API}/alice/posts",
    ):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, url
        found = directives(response)
        assert "private" in found or "no-store" in found, (url, found)
        assert "public" not in found, url
        assert not any(d.startswith(("max-age", "s-maxage")) for d in found), (url, found)
        assert "authorization" in vary(response)


async def test_writes_and_their_errors_are_never_stored(client: httpx.AsyncClient) -> None:
    created = await client.post(
        f"{API}/user",
        json={
            "name": "Alice Tester",
            "username": "alice",
            "email": "alice@example.com",
            "password": PASSWORD,
        },
    )
    assert created.status_code == 201
    assert_no_store(created)
    logged_in = await client.post(f"{API}/login", data={"username": "alice", "password": PASSWORD})
    assert logged_in.status_code == 200
    assert_no_store(logged_in)
    headers = bearer(logged_in.json()["access_token"])

    post = await client.post(
        f"{API}/alice/post", json={"title": "Hello", "text": "t"}, headers=headers
    )
    assert post.status_code == 201
    assert_no_store(post)
    post_id = post.json()["id"]
    patched = await client.patch(
        f"{API}/alice/post/{post_id}", json={"title": "Edited"}, headers=headers
    )
    assert patched.status_code == 200
    assert_no_store(patched)
    deleted = await client.delete(f"{API}/alice/post/{post_id}", headers=headers)
    assert deleted.status_code == 204
    assert_no_store(deleted)

    failures = [
        await client.post(f"{API}/login", data={"username": "alice", "password": "wrong-pass-1"}),
        await client.post(f"{API}/user", json={"username": "x"}),
        await client.post(f"{API}/alice/post", json={"title": "Hello", "text": "t"}),
        await client.patch(f"{API}/alice/post/999", json={"title": "Edited"}, headers=headers),
        await client.delete(f"{API}/alice/post/999", headers=headers),
        await client.delete(f"{API}/user/bob", headers=headers),
    ]
    assert [r.status_code for r in failures] == [401, 422, 401, 404, 404, 404]
    for response in failures:
        assert_no_store(response)
        assert "ETag" not in response.headers


async def test_a_failed_get_is_not_stored(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, "alice")
    responses = [
        await client.get(f"{API}/user/nobody"),
        await client.get(f"{API}/nobody/post/1"),
        await client.get(f"{API}/nobody/posts"),
        await client.get(f"{API}/user/nobody", headers=headers),
        await client.get(f"{API}/user/me/"),
        await client.get(f"{API}/alice/posts?page=0"),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404, 404, 401, 422]
    for response in responses:
        assert_no_store(response)
        assert "max-age" not in response.headers["Cache-Control"]
        assert "ETag" not in response.headers


async def test_client_cache_max_age_is_configurable(app_client: AppClientFactory) -> None:
    async with app_client(CLIENT_CACHE_MAX_AGE=123) as client:
        await register(client, "alice")
        response = await client.get(f"{API}/user/alice")
        assert response.status_code == 200
        assert directives(response) == {"public", "max-age=123"}
        token = await login(client, "alice")
        private = await client.get(f"{API}/user/alice", headers=bearer(token))
        assert "max-age=123" not in directives(private)
