"""No word of the API's paths is a username, through HTTP: the words are derived from the
routes the app serves when it starts (the first segment of every path under /api/v1, and the
fixed segments that stand where `{username}` stands, such as `me`), and with a few reserved
names they are refused at registration and on rename with a 422 that says why. Users that
already hold such a name keep it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.state import resources_of
from app.domains import DOMAINS
from app.users.service import ReservedUsernames
from tests.helpers.database import execute
from tests.helpers.features import needs
from tests.helpers.http import API, bearer, error_detail, login, register, sign_up, user_body

PATH_WORD = "This username is reserved: it is a path of the API"
RESERVED_NAME = "This username is reserved"


def reserved_error(message: str) -> list[dict[str, Any]]:
    """The project's 422 body for a refused username."""
    return [{"loc": ["body", "username"], "msg": message, "type": "value_error"}]


async def usernames(client: httpx.AsyncClient) -> list[str]:
    page = (await client.get(f"{API}/users", params={"items_per_page": 100})).json()
    return [user["username"] for user in page["data"]]


@pytest.mark.parametrize(
    ("username", "message"),
    [
        pytest.param("login", PATH_WORD, id="login"),
        pytest.param("users", PATH_WORD, id="users"),
        pytest.param("me", PATH_WORD, id="me"),  # /user/me/ stands where /user/{username} does
        pytest.param("logout", PATH_WORD, id="logout"),
        pytest.param("admin", RESERVED_NAME, id="admin"),
        pytest.param("api", RESERVED_NAME, id="api"),
    ],
)
async def test_registering_a_reserved_username_is_422_saying_why(
    client: httpx.AsyncClient, username: str, message: str
) -> None:
    response = await client.post(f"{API}/user", json=user_body(username))
    assert error_detail(response, 422) == reserved_error(message)
    assert await usernames(client) == []


async def test_a_reserved_username_in_capitals_is_refused_too(client: httpx.AsyncClient) -> None:
    # Usernames are lower-case, so the pattern refuses it first; the reserved words are
    # compared lower-cased all the same, should the pattern ever allow capitals.
    detail = error_detail(await client.post(f"{API}/user", json=user_body("Roles")), 422)
    assert [error["loc"] for error in detail] == [["body", "username"]]
    assert "pattern" in detail[0]["msg"]
    reserved = ReservedUsernames(frozenset({"roles"}))
    assert reserved.reason("Roles") == PATH_WORD
    assert reserved.reason("ADMIN") == RESERVED_NAME
    assert reserved.reason("rolesfan") is None


async def test_renaming_to_a_reserved_username_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    headers = await sign_up(client, "alice")
    for username, message in (("users", PATH_WORD), ("login", PATH_WORD), ("admin", RESERVED_NAME)):
        response = await client.patch(
            f"{API}/user/alice", json={"username": username, "name": "Renamed"}, headers=headers
        )
        assert error_detail(response, 422) == reserved_error(message)
    me = (await client.get(f"{API}/user/me/", headers=headers)).json()
    assert (me["username"], me["name"]) == ("alice", "Alice Tester")


@needs("posts")
async def test_ordinary_names_still_work_and_reach_their_posts(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client, "ada")
    # Words that are not the first segment of a path are free, `posts` among them.
    for username in ("rolesfan", "tiers2", "posts"):
        await register(client, username)
    headers = bearer(await login(client, "posts"))
    created = await client.post(
        f"{API}/posts/post", json={"title": "Hello", "text": "body"}, headers=headers
    )
    assert created.status_code == 201, created.text
    listed = await client.get(f"{API}/posts/posts")
    assert listed.status_code == 200, listed.text
    assert listed.json()["total_count"] == 1

    renamed = await client.patch(f"{API}/user/ada", json={"username": "adelaide"}, headers=ada)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["username"] == "adelaide"


async def test_a_user_who_already_holds_a_path_word_keeps_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Names taken before they became path words are not migrated: the account can still
    change its other fields, and move to a free name."""
    headers = await sign_up(client, "oldtimer")
    await execute(database_url, "UPDATE users SET username = 'roles' WHERE username = 'oldtimer'")
    same = await client.patch(
        f"{API}/user/roles", json={"username": "roles", "name": "Still Roles"}, headers=headers
    )
    assert same.status_code == 200, same.text
    moved = await client.patch(f"{API}/user/roles", json={"username": "ro"}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["username"] == "ro"


def test_the_words_come_from_every_domain_router(app: FastAPI) -> None:
    words = resources_of(app).path_words
    # Words of the domains every app has; the loop below checks every installed domain's.
    for word in ("users", "user", "db_user", "login"):
        assert word in words, word
    assert {"logout", "refresh", "me"} <= words
    # Each fixed first segment of each domain's router, whichever domains there are.
    for domain in DOMAINS:
        for route in domain.router.routes if domain.router else ():
            first = getattr(route, "path", "").split("/")[1]
            if not first.startswith("{"):
                assert first.lower() in words, (domain.name, first)
    # A segment that stands after `{username}` names no route of its own there.
    assert "posts" not in words
    assert "post" not in words
