"""Tiers, their per-path rate limits and users' tiers, through HTTP; `app create-tier`; and the
rate limiter picking up admin changes at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.cli import main
from tests.helpers.database import engine_for, query
from tests.helpers.features import needs
from tests.helpers.http import (
    API,
    SUPERUSER,
    AppClientFactory,
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

TIER_FIELDS = {"id", "name", "created_at"}
LIMIT_FIELDS = {"id", "tier_id", "name", "path", "limit", "period", "created_at"}
PAGE_FIELDS = {"data", "total_count", "has_more", "page", "items_per_page"}
POST_TEMPLATE = "api/v1/{username}/post"
POST_BODY = {"title": "Hello", "text": "A post that counts against a rate limit."}


# --- helpers -------------------------------------------------------------------------------


async def new_tier(client: httpx.AsyncClient, admin: Headers, name: str) -> dict[str, Any]:
    response = await client.post(f"{API}/tier", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def new_limit(
    client: httpx.AsyncClient, admin: Headers, tier: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("limit", 5)
    body.setdefault("period", 60)
    response = await client.post(f"{API}/tier/{tier}/rate_limit", json=body, headers=admin)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def assign(client: httpx.AsyncClient, admin: Headers, username: str, tier_id: int) -> None:
    response = await client.patch(
        f"{API}/user/{username}/tier", json={"tier_id": tier_id}, headers=admin
    )
    assert response.status_code == 200, response.text


async def get_ok(client: httpx.AsyncClient, url: str, **kwargs: Any) -> Any:
    response = await client.get(url, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


async def tier_names(client: httpx.AsyncClient) -> list[str]:
    page = await get_ok(client, f"{API}/tiers", params={"items_per_page": 100})
    return [tier["name"] for tier in page["data"]]


async def limits_of(client: httpx.AsyncClient, tier: str) -> list[dict[str, Any]]:
    page = await get_ok(client, f"{API}/tier/{tier}/rate_limits", params={"items_per_page": 100})
    data: list[dict[str, Any]] = page["data"]
    return data


async def user_tier(client: httpx.AsyncClient, admin: Headers, username: str) -> Any:
    body = await get_ok(client, f"{API}/user/{username}/tier", headers=admin)
    return body["tier"]


# --- tiers ---------------------------------------------------------------------------------


async def test_create_tier_returns_it_and_it_reads_back(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    tier = await new_tier(client, admin, "gold")
    assert set(tier) == TIER_FIELDS
    assert tier["name"] == "gold"
    assert isinstance(tier["id"], int)
    assert tier["id"] >= 1
    parse_time(tier["created_at"])
    assert await get_ok(client, f"{API}/tier/gold") == tier
    page = await get_ok(client, f"{API}/tiers")
    assert page["data"] == [tier]
    assert page["total_count"] == 1


@pytest.mark.parametrize("name", ["a", "7", "x" * 50, "Pro_Plan.v2-beta", "A.B_C-D"])
async def test_valid_tier_names_are_accepted(
    client: httpx.AsyncClient, superuser_headers: Headers, name: str
) -> None:
    admin = superuser_headers
    tier = await new_tier(client, admin, name)
    assert tier["name"] == name
    assert (await get_ok(client, f"{API}/tier/{name}"))["id"] == tier["id"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": ""}, id="empty"),
        pytest.param({"name": "x" * 51}, id="51-chars"),
        pytest.param({"name": "with space"}, id="space"),
        pytest.param({"name": " gold"}, id="leading-space"),
        pytest.param({"name": "a/b"}, id="slash"),
        pytest.param({"name": "café"}, id="non-ascii"),
        pytest.param({"name": "gold!"}, id="punctuation"),
        pytest.param({"name": "gold\n"}, id="trailing-newline"),
        pytest.param({"name": 123}, id="number"),
        pytest.param({"name": None}, id="null"),
        pytest.param({}, id="missing"),
        pytest.param({"name": "gold", "id": 5}, id="extra-field"),
    ],
)
async def test_invalid_tier_names_are_422(
    client: httpx.AsyncClient, superuser_headers: Headers, body: dict[str, Any]
) -> None:
    admin = superuser_headers
    response = await client.post(f"{API}/tier", json=body, headers=admin)
    error_detail(response, 422)
    assert await tier_names(client) == []


async def test_duplicate_tier_name_is_409(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    first = await new_tier(client, admin, "gold")
    response = await client.post(f"{API}/tier", json={"name": "gold"}, headers=admin)
    error_detail(response, 409)
    page = await get_ok(client, f"{API}/tiers")
    assert page["data"] == [first]


async def test_concurrent_creates_of_one_name_give_one_tier_and_409s(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    responses = await asyncio.gather(
        *(client.post(f"{API}/tier", json={"name": "race"}, headers=admin) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 5, [r.text for r in responses]
    assert await tier_names(client) == ["race"]


async def test_list_tiers_is_an_offset_page_in_creation_order(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    created = [await new_tier(client, admin, name) for name in ("free", "pro", "business")]
    first = await get_ok(client, f"{API}/tiers", params={"page": 1, "items_per_page": 2})
    assert set(first) == PAGE_FIELDS
    assert first["data"] == created[:2]
    assert (first["total_count"], first["has_more"], first["page"], first["items_per_page"]) == (
        3,
        True,
        1,
        2,
    )
    second = await get_ok(client, f"{API}/tiers", params={"page": 2, "items_per_page": 2})
    assert second["data"] == created[2:]
    assert (second["total_count"], second["has_more"], second["page"]) == (3, False, 2)
    beyond = await get_ok(client, f"{API}/tiers", params={"page": 5, "items_per_page": 2})
    assert beyond["data"] == []
    assert beyond["has_more"] is False


@pytest.mark.parametrize(
    "params", [{"page": 0}, {"items_per_page": 0}, {"items_per_page": 101}, {"page": "x"}]
)
async def test_list_tiers_refuses_bad_page_parameters(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    error_detail(await client.get(f"{API}/tiers", params=params), 422)


async def test_unknown_tier_is_404_everywhere(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    gold = await new_tier(client, admin, "gold")
    limit = await new_limit(client, admin, "gold", path="api/v1/x")
    missing = "nope"
    limit_body = {"path": "api/v1/y", "limit": 1, "period": 1}
    requests: list[tuple[str, str, Any]] = [
        ("GET", f"/tier/{missing}", None),
        ("PATCH", f"/tier/{missing}", {"name": "other"}),
        ("DELETE", f"/tier/{missing}", None),
        ("POST", f"/tier/{missing}/rate_limit", limit_body),
        ("GET", f"/tier/{missing}/rate_limits", None),
        ("GET", f"/tier/{missing}/rate_limit/{limit['id']}", None),
        ("PATCH", f"/tier/{missing}/rate_limit/{limit['id']}", {"limit": 9}),
        ("DELETE", f"/tier/{missing}/rate_limit/{limit['id']}", None),
        ("GET", "/tier/GOLD", None),  # names are exact
    ]
    for method, path, body in requests:
        response = await client.request(method, API + path, json=body, headers=admin)
        assert response.status_code == 404, (method, path, response.text)
        error_detail(response, 404)
    assert await tier_names(client) == ["gold"]
    assert await limits_of(client, "gold") == [limit]
    assert (await get_ok(client, f"{API}/tier/gold"))["id"] == gold["id"]


async def test_rename_tier(client: httpx.AsyncClient, superuser_headers: Headers) -> None:
    admin = superuser_headers
    gold = await new_tier(client, admin, "gold")
    limit = await new_limit(client, admin, "gold", path="api/v1/x")
    response = await client.patch(f"{API}/tier/gold", json={"name": "Gold-2"}, headers=admin)
    assert response.status_code == 200, response.text
    renamed = response.json()
    assert set(renamed) == TIER_FIELDS
    assert renamed == {**gold, "name": "Gold-2"}
    error_detail(await client.get(f"{API}/tier/gold"), 404)
    assert await get_ok(client, f"{API}/tier/Gold-2") == renamed
    assert await limits_of(client, "Gold-2") == [limit]  # limits follow the tier
    # Renaming to its own name is a no-op, not a conflict.
    same = await client.patch(f"{API}/tier/Gold-2", json={"name": "Gold-2"}, headers=admin)
    assert same.status_code == 200, same.text
    assert same.json() == renamed


async def test_rename_tier_to_a_taken_name_is_409_and_changes_nothing(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    await new_tier(client, admin, "silver")
    response = await client.patch(f"{API}/tier/silver", json={"name": "gold"}, headers=admin)
    error_detail(response, 409)
    assert await tier_names(client) == ["gold", "silver"]


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "bad name"}, {"name": "x" * 51}, {}, {"name": None}]
)
async def test_rename_tier_to_an_invalid_name_is_422(
    client: httpx.AsyncClient, superuser_headers: Headers, body: dict[str, Any]
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    error_detail(await client.patch(f"{API}/tier/gold", json=body, headers=admin), 422)
    assert await tier_names(client) == ["gold"]


async def test_delete_tier_removes_it_and_its_rate_limits(
    client: httpx.AsyncClient, database_url: str, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    keep = await new_tier(client, admin, "silver")
    doomed = [
        await new_limit(client, admin, "gold", path="api/v1/a"),
        await new_limit(client, admin, "gold", path="api/v1/b"),
    ]
    kept = await new_limit(client, admin, "silver", path="api/v1/a")
    response = await client.delete(f"{API}/tier/gold", headers=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    error_detail(await client.get(f"{API}/tier/gold"), 404)
    error_detail(await client.get(f"{API}/tier/gold/rate_limits"), 404)
    assert await tier_names(client) == [keep["name"]]
    # A new tier of the same name starts without the old limits.
    await new_tier(client, admin, "gold")
    assert await limits_of(client, "gold") == []
    for old in doomed:
        error_detail(await client.get(f"{API}/tier/gold/rate_limit/{old['id']}"), 404)
    rows = await query(database_url, "SELECT id FROM rate_limits ORDER BY id")
    assert rows == [(kept["id"],)]
    error_detail(await client.delete(f"{API}/tier/nope", headers=admin), 404)


async def test_delete_tier_in_use_is_409_until_its_users_move(
    client: httpx.AsyncClient, database_url: str, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await register(client, "alice")
    await register(client, "bob")
    gold = await new_tier(client, admin, "gold")
    free = await new_tier(client, admin, "free")
    limit = await new_limit(client, admin, "gold", path="api/v1/x")
    await assign(client, admin, "alice", gold["id"])
    await assign(client, admin, "bob", gold["id"])

    for _ in range(2):  # still refused when asked again, never a 500
        detail = error_detail(await client.delete(f"{API}/tier/gold", headers=admin), 409)
        assert "user" in str(detail).lower()
    assert await tier_names(client) == ["gold", "free"]
    assert await limits_of(client, "gold") == [limit]
    assert (await user_tier(client, admin, "alice"))["id"] == gold["id"]

    await assign(client, admin, "alice", free["id"])
    error_detail(await client.delete(f"{API}/tier/gold", headers=admin), 409)  # bob remains
    await assign(client, admin, "bob", free["id"])
    response = await client.delete(f"{API}/tier/gold", headers=admin)
    assert response.status_code == 204, response.text
    assert await tier_names(client) == ["free"]
    assert await query(database_url, "SELECT count(*) FROM rate_limits") == [(0,)]


async def test_a_soft_deleted_user_does_not_hold_a_tier(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    """Deleting an account releases its tier, so the tier can be deleted afterwards."""
    admin = superuser_headers
    alice = await sign_up(client, "alice")
    await sign_up(client, "bob")
    gold = await new_tier(client, admin, "gold")
    await assign(client, admin, "alice", gold["id"])
    await assign(client, admin, "bob", gold["id"])
    error_detail(await client.delete(f"{API}/tier/gold", headers=admin), 409)
    assert (await client.delete(f"{API}/user/alice", headers=alice)).status_code == 204
    error_detail(await client.delete(f"{API}/tier/gold", headers=admin), 409)  # bob still
    assert (await client.delete(f"{API}/db_user/bob", headers=admin)).status_code == 204
    assert (await client.delete(f"{API}/tier/gold", headers=admin)).status_code == 204


# --- rate limits ---------------------------------------------------------------------------


async def test_create_rate_limit_returns_it_and_it_reads_back(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    gold = await new_tier(client, admin, "gold")
    body = {"name": "tasks", "path": "api/v1/tasks/task", "limit": 5, "period": 60}
    created = await new_limit(client, admin, "gold", **body)
    assert set(created) == LIMIT_FIELDS
    assert {k: created[k] for k in body} == body
    assert created["tier_id"] == gold["id"]
    parse_time(created["created_at"])
    assert await get_ok(client, f"{API}/tier/gold/rate_limit/{created['id']}") == created
    page = await get_ok(client, f"{API}/tier/gold/rate_limits")
    assert set(page) == PAGE_FIELDS
    assert page["data"] == [created]
    assert page["total_count"] == 1
    assert page["has_more"] is False


@pytest.mark.parametrize(
    "path",
    [
        "api/v1/tasks/task",
        "/api/v1/tasks/task",
        "api/v1/tasks/task/",
        "/api/v1//tasks/task/",
        "//api//v1/tasks//task//",
        "api/v1/tasks/task?x=1",
    ],
)
async def test_path_is_stored_in_one_normal_form(
    client: httpx.AsyncClient, superuser_headers: Headers, path: str
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    created = await new_limit(client, admin, "gold", path=path)
    assert created["path"] == "api/v1/tasks/task"
    assert created["name"] == "api/v1/tasks/task"  # the default name is the (normal) path
    # Any other spelling of the same path is the same path: a duplicate, even under a new name.
    for spelling in ("api/v1/tasks/task", "/api/v1//tasks/task/"):
        response = await client.post(
            f"{API}/tier/gold/rate_limit",
            json={"name": "another", "path": spelling, "limit": 1, "period": 1},
            headers=admin,
        )
        error_detail(response, 409)
    assert await limits_of(client, "gold") == [created]


async def test_name_defaults_to_the_path_and_is_stripped(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    unnamed = await new_limit(client, admin, "gold", path="/api/v1/{username}/post")
    assert unnamed["name"] == "api/v1/{username}/post"
    assert unnamed["path"] == "api/v1/{username}/post"
    null_name = await new_limit(client, admin, "gold", path="api/v1/other", name=None)
    assert null_name["name"] == "api/v1/other"
    named = await new_limit(client, admin, "gold", path="api/v1/third", name="  third  ")
    assert named["name"] == "third"


async def test_long_paths_without_names_do_not_collide(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    """Two different long paths (sharing a 50-character prefix) and no names: both are new."""
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    prefix = "api/v1/" + "a" * 60
    first = await new_limit(client, admin, "gold", path=prefix + "/one")
    assert first["path"] == prefix + "/one"
    response = await client.post(
        f"{API}/tier/gold/rate_limit",
        json={"path": prefix + "/two", "limit": 1, "period": 1},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    assert response.json()["path"] == prefix + "/two"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("", id="empty"),
        pytest.param("/", id="slash"),
        pytest.param("///", id="slashes"),
        pytest.param("   ", id="blank"),
        pytest.param("api/v1/my tasks", id="inner-space"),
        pytest.param("api/v1/\ttasks", id="tab"),
        pytest.param("?x=1", id="query-only"),
        pytest.param("/?x=1", id="slash-query"),
        pytest.param("#frag", id="fragment-only"),
        pytest.param("api/v1/tâche", id="non-ascii"),
        pytest.param("api/v1/<script>", id="angle-brackets"),
        pytest.param("api/" + "x" * 260, id="too-long"),
        pytest.param(None, id="null"),
        pytest.param(12, id="number"),
    ],
)
async def test_bad_paths_are_422(
    client: httpx.AsyncClient, superuser_headers: Headers, path: Any
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    response = await client.post(
        f"{API}/tier/gold/rate_limit",
        json={"path": path, "limit": 1, "period": 1},
        headers=admin,
    )
    error_detail(response, 422)
    assert await limits_of(client, "gold") == []


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": -1}, id="limit-negative"),
        pytest.param({"limit": None}, id="limit-null"),
        pytest.param({"limit": "many"}, id="limit-text"),
        pytest.param({"limit": 1.5}, id="limit-fraction"),
        pytest.param({"period": 0}, id="period-0"),
        pytest.param({"period": -60}, id="period-negative"),
        pytest.param({"period": None}, id="period-null"),
        pytest.param({"name": ""}, id="name-empty"),
        pytest.param({"name": "   "}, id="name-blank"),
        pytest.param({"name": "x" * 256}, id="name-256"),
        pytest.param({"name": "n\x00"}, id="name-nul"),
        pytest.param({"tier_id": 1}, id="extra-field"),
    ],
)
async def test_bad_rate_limit_bodies_are_422(
    client: httpx.AsyncClient, superuser_headers: Headers, changes: dict[str, Any]
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    body = {"path": "api/v1/x", "limit": 3, "period": 60, **changes}
    response = await client.post(f"{API}/tier/gold/rate_limit", json=body, headers=admin)
    error_detail(response, 422)
    assert await limits_of(client, "gold") == []


@pytest.mark.parametrize("missing", ["path", "limit", "period"])
async def test_rate_limit_fields_are_required(
    client: httpx.AsyncClient, superuser_headers: Headers, missing: str
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    body = {"path": "api/v1/x", "limit": 3, "period": 60}
    del body[missing]
    response = await client.post(f"{API}/tier/gold/rate_limit", json=body, headers=admin)
    error_detail(response, 422)


async def test_smallest_limit_and_period_are_accepted(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    created = await new_limit(client, admin, "gold", path="api/v1/x", limit=1, period=1)
    assert (created["limit"], created["period"]) == (1, 1)


async def test_duplicates_within_a_tier_are_409_but_fine_across_tiers(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    gold = await new_tier(client, admin, "gold")
    silver = await new_tier(client, admin, "silver")
    first = await new_limit(client, admin, "gold", name="posts", path="api/v1/{username}/post")

    same_name = {"name": "posts", "path": "api/v1/other", "limit": 1, "period": 1}
    same_path = {"name": "other", "path": "/api/v1/{username}/post/", "limit": 1, "period": 1}
    for body in (same_name, same_path):
        response = await client.post(f"{API}/tier/gold/rate_limit", json=body, headers=admin)
        error_detail(response, 409)
    assert await limits_of(client, "gold") == [first]

    other = await new_limit(client, admin, "silver", name="posts", path="api/v1/{username}/post")
    assert other["tier_id"] == silver["id"]
    assert first["tier_id"] == gold["id"]
    assert other["id"] != first["id"]
    assert await limits_of(client, "silver") == [other]


async def test_concurrent_creates_of_one_path_give_one_limit_and_409s(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/tier/gold/rate_limit",
                json={"name": f"n{i}", "path": "api/v1/race", "limit": 1, "period": 1},
                headers=admin,
            )
            for i in range(6)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 5, [r.text for r in responses]
    assert len(await limits_of(client, "gold")) == 1


async def test_list_rate_limits_pages_only_the_tiers_own(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    await new_tier(client, admin, "silver")
    gold = [await new_limit(client, admin, "gold", path=f"api/v1/p{i}") for i in range(3)]
    await new_limit(client, admin, "silver", path="api/v1/p0")
    first = await get_ok(
        client, f"{API}/tier/gold/rate_limits", params={"page": 1, "items_per_page": 2}
    )
    assert first["data"] == gold[:2]
    assert (first["total_count"], first["has_more"], first["page"], first["items_per_page"]) == (
        3,
        True,
        1,
        2,
    )
    second = await get_ok(
        client, f"{API}/tier/gold/rate_limits", params={"page": 2, "items_per_page": 2}
    )
    assert second["data"] == gold[2:]
    assert second["has_more"] is False
    error_detail(
        await client.get(f"{API}/tier/gold/rate_limits", params={"items_per_page": 101}), 422
    )


async def test_rate_limit_of_another_tier_is_404_and_untouched(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    await new_tier(client, admin, "silver")
    theirs = await new_limit(client, admin, "silver", path="api/v1/x")
    url = f"{API}/tier/gold/rate_limit/{theirs['id']}"
    error_detail(await client.get(url), 404)
    error_detail(await client.patch(url, json={"limit": 99}, headers=admin), 404)
    error_detail(await client.delete(url, headers=admin), 404)
    assert await limits_of(client, "silver") == [theirs]
    assert await limits_of(client, "gold") == []


@pytest.mark.parametrize("bad_id", ["0", "-1", str(2**31), "99999999999999999999", "abc"])
async def test_rate_limit_id_out_of_range_is_422(
    client: httpx.AsyncClient, superuser_headers: Headers, bad_id: str
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    url = f"{API}/tier/gold/rate_limit/{bad_id}"
    error_detail(await client.get(url), 422)
    error_detail(await client.patch(url, json={"limit": 2}, headers=admin), 422)
    error_detail(await client.delete(url, headers=admin), 422)


async def test_unknown_rate_limit_id_is_404(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    url = f"{API}/tier/gold/rate_limit/{2**31 - 1}"
    error_detail(await client.get(url), 404)
    error_detail(await client.patch(url, json={"limit": 2}, headers=admin), 404)
    error_detail(await client.delete(url, headers=admin), 404)


async def test_update_rate_limit_changes_and_reads_back(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    created = await new_limit(client, admin, "gold", name="a", path="api/v1/a", limit=2)
    url = f"{API}/tier/gold/rate_limit/{created['id']}"
    changes = {"name": "b", "path": "/api/v1//b/", "limit": 7, "period": 120}
    response = await client.patch(url, json=changes, headers=admin)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated == {**created, "name": "b", "path": "api/v1/b", "limit": 7, "period": 120}
    assert await get_ok(client, url) == updated
    # An empty change changes nothing; a one-field change only that field.
    empty = await client.patch(url, json={}, headers=admin)
    assert empty.status_code == 200, empty.text
    assert empty.json() == updated
    one = await client.patch(url, json={"period": 5}, headers=admin)
    assert one.status_code == 200, one.text
    assert one.json() == {**updated, "period": 5}
    # Its own name and path are not duplicates of itself.
    same = await client.patch(url, json={"name": "b", "path": "api/v1/b"}, headers=admin)
    assert same.status_code == 200, same.text


async def test_update_rate_limit_to_a_duplicate_is_409_and_changes_nothing(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    await new_tier(client, admin, "silver")
    a = await new_limit(client, admin, "gold", name="a", path="api/v1/a")
    b = await new_limit(client, admin, "gold", name="b", path="api/v1/b")
    elsewhere = await new_limit(client, admin, "silver", name="c", path="api/v1/c")
    url = f"{API}/tier/gold/rate_limit/{b['id']}"
    for changes in ({"name": "a"}, {"path": "/api/v1/a/"}, {"name": "a", "limit": 99}):
        error_detail(await client.patch(url, json=changes, headers=admin), 409)
    assert await limits_of(client, "gold") == [a, b]
    # Names and paths of another tier are no conflict.
    response = await client.patch(url, json={"name": "c", "path": "api/v1/c"}, headers=admin)
    assert response.status_code == 200, response.text
    assert await limits_of(client, "silver") == [elsewhere]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"limit": None}, id="limit-null"),
        pytest.param({"period": None}, id="period-null"),
        pytest.param({"path": None}, id="path-null"),
        pytest.param({"name": None}, id="name-null"),
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"period": 0}, id="period-0"),
        pytest.param({"path": "/"}, id="path-slash"),
        pytest.param({"path": "a b"}, id="path-space"),
        pytest.param({"name": ""}, id="name-empty"),
        pytest.param({"tier_id": 2}, id="extra-field"),
    ],
)
async def test_update_rate_limit_refuses_bad_values(
    client: httpx.AsyncClient, superuser_headers: Headers, changes: dict[str, Any]
) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    created = await new_limit(client, admin, "gold", name="a", path="api/v1/a")
    url = f"{API}/tier/gold/rate_limit/{created['id']}"
    error_detail(await client.patch(url, json=changes, headers=admin), 422)
    assert await get_ok(client, url) == created


async def test_delete_rate_limit(client: httpx.AsyncClient, superuser_headers: Headers) -> None:
    admin = superuser_headers
    await new_tier(client, admin, "gold")
    a = await new_limit(client, admin, "gold", path="api/v1/a")
    b = await new_limit(client, admin, "gold", path="api/v1/b")
    url = f"{API}/tier/gold/rate_limit/{a['id']}"
    response = await client.delete(url, headers=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    error_detail(await client.get(url), 404)
    error_detail(await client.delete(url, headers=admin), 404)
    assert await limits_of(client, "gold") == [b]
    # The path is free again.
    again = await new_limit(client, admin, "gold", path="api/v1/a")
    assert again["id"] != a["id"]


# --- users' tiers --------------------------------------------------------------------------


async def test_user_tier_starts_empty_and_follows_assignments(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    alice = await sign_up(client, "alice")
    gold = await new_tier(client, admin, "gold")
    silver = await new_tier(client, admin, "silver")
    assert await get_ok(client, f"{API}/user/alice/tier", headers=alice) == {
        "username": "alice",
        "tier": None,
    }
    response = await client.patch(
        f"{API}/user/alice/tier", json={"tier_id": gold["id"]}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"username": "alice", "tier": gold}
    assert await get_ok(client, f"{API}/user/alice/tier", headers=alice) == {
        "username": "alice",
        "tier": gold,
    }
    # The tier is this feature's: the user's own reads do not carry it.
    assert "tier_id" not in await get_ok(client, f"{API}/user/me/", headers=alice)
    await assign(client, admin, "alice", silver["id"])
    assert await user_tier(client, admin, "alice") == silver
    # The superuser's own tier is readable too (superuser reading themselves).
    admin_tier = await get_ok(client, f"{API}/user/{SUPERUSER}/tier", headers=admin)
    assert admin_tier == {"username": SUPERUSER, "tier": None}


async def test_user_tier_shows_the_renamed_tier(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    alice = await sign_up(client, "alice")
    gold = await new_tier(client, admin, "gold")
    await assign(client, admin, "alice", gold["id"])
    await client.patch(f"{API}/tier/gold", json={"name": "platinum"}, headers=admin)
    tier = (await get_ok(client, f"{API}/user/alice/tier", headers=alice))["tier"]
    assert tier == {**gold, "name": "platinum"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"tier_id": 2**31 - 1}, 404, id="unknown-tier"),
        pytest.param({"tier_id": 0}, 422, id="zero"),
        pytest.param({"tier_id": -3}, 422, id="negative"),
        pytest.param({"tier_id": 2**31}, 422, id="too-big"),
        pytest.param({"tier_id": "gold"}, 422, id="text"),
        pytest.param({"tier_id": None}, 422, id="null"),
        pytest.param({}, 422, id="missing"),
        pytest.param({"tier_id": 1, "extra": 1}, 422, id="extra-field"),
    ],
)
async def test_set_user_tier_refuses_bad_tiers(
    client: httpx.AsyncClient, superuser_headers: Headers, body: dict[str, Any], status: int
) -> None:
    admin = superuser_headers
    await register(client, "alice")
    gold = await new_tier(client, admin, "gold")
    await assign(client, admin, "alice", gold["id"])
    response = await client.patch(f"{API}/user/alice/tier", json=body, headers=admin)
    error_detail(response, status)
    assert await user_tier(client, admin, "alice") == gold


async def test_unknown_user_is_404(client: httpx.AsyncClient, superuser_headers: Headers) -> None:
    admin = superuser_headers
    gold = await new_tier(client, admin, "gold")
    error_detail(await client.get(f"{API}/user/ghost/tier", headers=admin), 404)
    error_detail(await client.get(f"{API}/user/ghost/rate_limits", headers=admin), 404)
    response = await client.patch(
        f"{API}/user/ghost/tier", json={"tier_id": gold["id"]}, headers=admin
    )
    error_detail(response, 404)


async def test_a_user_cannot_change_their_own_tier(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    alice = await sign_up(client, "alice")
    gold = await new_tier(client, admin, "gold")
    response = await client.patch(
        f"{API}/user/alice/tier", json={"tier_id": gold["id"]}, headers=alice
    )
    error_detail(response, 403)
    assert await user_tier(client, admin, "alice") is None
    # Nor through the account update.
    response = await client.patch(f"{API}/user/alice", json={"tier_id": gold["id"]}, headers=alice)
    error_detail(response, 422)
    assert await user_tier(client, admin, "alice") is None


async def test_user_rate_limits_are_their_tiers(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    alice = await sign_up(client, "alice")
    gold = await new_tier(client, admin, "gold")
    silver = await new_tier(client, admin, "silver")
    url = f"{API}/user/alice/rate_limits"
    assert await get_ok(client, url, headers=alice) == []
    gold_limits = [
        await new_limit(client, admin, "gold", path="api/v1/a"),
        await new_limit(client, admin, "gold", path="api/v1/b"),
    ]
    silver_limit = await new_limit(client, admin, "silver", path="api/v1/a", limit=50)
    assert await get_ok(client, url, headers=alice) == []  # no tier yet
    await assign(client, admin, "alice", gold["id"])
    listed = await get_ok(client, url, headers=alice)
    assert listed == gold_limits
    assert all(set(item) == LIMIT_FIELDS for item in listed)
    assert await get_ok(client, url, headers=admin) == gold_limits
    await assign(client, admin, "alice", silver["id"])
    assert await get_ok(client, url, headers=alice) == [silver_limit]


async def test_another_user_and_anonymous_cannot_see_a_users_tier(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    await register(client, "alice")
    bob = await sign_up(client, "bob")
    gold = await new_tier(client, admin, "gold")
    await new_limit(client, admin, "gold", path="api/v1/a")
    await assign(client, admin, "alice", gold["id"])
    for suffix in ("tier", "rate_limits"):
        url = f"{API}/user/alice/{suffix}"
        forbidden = await client.get(url, headers=bob)
        error_detail(forbidden, 403)
        assert "gold" not in forbidden.text
        assert_unauthorized(await client.get(url))
        assert_unauthorized(await client.get(url, headers=bearer("not-a-token")))


async def test_assigning_a_tier_deleted_meanwhile_is_not_a_500(
    app: FastAPI, database_url: str, superuser_headers: Headers, client: httpx.AsyncClient
) -> None:
    """The tier is deleted (by another admin, committed) while the assignment waits on the
    deleted row: the answer is the 404 of a tier that is not there (the foreign key refuses
    it), never a 500, and the user keeps their tier (none)."""
    admin = superuser_headers
    await register(client, "alice")
    doomed = await new_tier(client, admin, "doomed")
    async with (
        client_for(app, raise_app_exceptions=False) as c,
        engine_for(database_url) as engine,
        engine.connect() as conn,
    ):
        tx = await conn.begin()
        await conn.execute(text("DELETE FROM tiers WHERE id = :id"), {"id": doomed["id"]})
        task = asyncio.create_task(
            c.patch(f"{API}/user/alice/tier", json={"tier_id": doomed["id"]}, headers=admin)
        )
        await wait_for_lock_waiter(database_url, task)
        await tx.commit()
        response = await task
    error_detail(response, 404)
    assert await user_tier(client, admin, "alice") is None


async def wait_for_lock_waiter(
    database_url: str, task: asyncio.Task[Any], wait_seconds: float = 10
) -> None:
    """Until a session of this database waits on a lock; fails when the request ends first
    (it never met the uncommitted delete) or time runs out."""
    deadline = time.monotonic() + wait_seconds
    while True:
        assert not task.done(), "the request ended without waiting on the deleted row"
        rows = await query(
            database_url,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        if rows[0][0]:
            return
        assert time.monotonic() < deadline, "no session waited on a lock"
        await asyncio.sleep(0.05)


# --- ownership matrix ----------------------------------------------------------------------


@dataclass
class World:
    headers: dict[str, Headers]
    gold_id: int
    silver_id: int
    limit_id: int


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    expected: dict[str, int]
    body: Callable[[World], Any] | None = field(default=None)


def _admin_only(ok: int) -> dict[str, int]:
    return {"superuser": ok, "owner": 403, "user": 403, "anonymous": 401}


PUBLIC = {"superuser": 200, "owner": 200, "user": 200, "anonymous": 200}
SELF_OR_ADMIN = {"superuser": 200, "owner": 200, "user": 403, "anonymous": 401}

# "owner" is carol, the user the /user/{username}/... paths name (a normal user on tier gold);
# "user" is bob, another signed-in normal user.
MATRIX = [
    Endpoint("create_tier", "POST", "/tier", _admin_only(201), lambda w: {"name": "platinum"}),
    Endpoint("list_tiers", "GET", "/tiers", PUBLIC),
    Endpoint("get_tier", "GET", "/tier/gold", PUBLIC),
    Endpoint("rename_tier", "PATCH", "/tier/silver", _admin_only(200), lambda w: {"name": "s2"}),
    Endpoint("delete_tier", "DELETE", "/tier/silver", _admin_only(204)),
    Endpoint(
        "create_rate_limit",
        "POST",
        "/tier/gold/rate_limit",
        _admin_only(201),
        lambda w: {"name": "extra", "path": "api/v1/extra", "limit": 3, "period": 60},
    ),
    Endpoint("list_rate_limits", "GET", "/tier/gold/rate_limits", PUBLIC),
    Endpoint("get_rate_limit", "GET", "/tier/gold/rate_limit/{limit_id}", PUBLIC),
    Endpoint(
        "update_rate_limit",
        "PATCH",
        "/tier/gold/rate_limit/{limit_id}",
        _admin_only(200),
        lambda w: {"limit": 7},
    ),
    Endpoint("delete_rate_limit", "DELETE", "/tier/gold/rate_limit/{limit_id}", _admin_only(204)),
    Endpoint("get_user_tier", "GET", "/user/carol/tier", SELF_OR_ADMIN),
    Endpoint(
        "set_user_tier",
        "PATCH",
        "/user/carol/tier",
        _admin_only(200),
        lambda w: {"tier_id": w.silver_id},
    ),
    Endpoint("get_user_rate_limits", "GET", "/user/carol/rate_limits", SELF_OR_ADMIN),
]
ACTORS = ("superuser", "owner", "user", "anonymous")


async def build_world(client: httpx.AsyncClient, admin: Headers) -> World:
    carol = await sign_up(client, "carol")
    bob = await sign_up(client, "bob")
    gold = await new_tier(client, admin, "gold")
    silver = await new_tier(client, admin, "silver")
    limit = await new_limit(client, admin, "gold", name="posts", path=POST_TEMPLATE)
    await assign(client, admin, "carol", gold["id"])
    headers = {"superuser": admin, "owner": carol, "user": bob, "anonymous": {}}
    return World(headers, gold["id"], silver["id"], limit["id"])


async def snapshot(client: httpx.AsyncClient, admin: Headers) -> dict[str, Any]:
    tiers = (await get_ok(client, f"{API}/tiers", params={"items_per_page": 100}))["data"]
    limits = {tier["name"]: await limits_of(client, tier["name"]) for tier in tiers}
    carol = await get_ok(client, f"{API}/user/carol/tier", headers=admin)
    return {"tiers": tiers, "limits": limits, "carol": carol}


@pytest.mark.parametrize(
    ("endpoint", "actor"),
    [pytest.param(e, a, id=f"{e.name}-{a}") for e in MATRIX for a in ACTORS],
)
async def test_ownership_matrix(
    client: httpx.AsyncClient, superuser_headers: Headers, endpoint: Endpoint, actor: str
) -> None:
    world = await build_world(client, superuser_headers)
    admin = world.headers["superuser"]
    before = await snapshot(client, admin)
    url = API + endpoint.path.format(limit_id=world.limit_id)
    body = endpoint.body(world) if endpoint.body else None
    response = await client.request(endpoint.method, url, json=body, headers=world.headers[actor])
    expected = endpoint.expected[actor]
    assert response.status_code == expected, response.text
    if expected == 401:
        assert_unauthorized(response)
    elif expected >= 400:
        error_detail(response, expected)
    after = await snapshot(client, admin)
    if endpoint.method == "GET" or expected >= 400:
        assert after == before, "a read or a refused write changed the data"
    else:
        assert after != before, "an allowed write changed nothing"


# --- app create-tier -----------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TIER_NAME", "starter")
    return database_url


def tiers_in(url: str) -> list[str]:
    return [str(row[0]) for row in asyncio.run(query(url, "SELECT name FROM tiers ORDER BY id"))]


def test_create_tier_from_tier_name_twice_is_harmless(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-tier"]) == 0
    out = capsys.readouterr().out
    assert "starter" in out
    assert "created" in out
    assert tiers_in(cli_env) == ["starter"]
    assert main(["create-tier"]) == 0
    out = capsys.readouterr().out
    assert "starter" in out
    assert "nothing to do" in out
    assert tiers_in(cli_env) == ["starter"]


def test_create_tier_name_option_overrides_tier_name(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-tier", "--name", "Pro.v2"]) == 0
    assert "Pro.v2" in capsys.readouterr().out
    assert tiers_in(cli_env) == ["Pro.v2"]


@pytest.mark.parametrize(
    ("env_name", "args"),
    [
        pytest.param("bad name", [], id="env"),
        pytest.param("starter", ["--name", "bad/name"], id="option"),
        pytest.param("x" * 51, [], id="too-long"),
    ],
)
def test_create_tier_invalid_name_exits_2(
    cli_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env_name: str,
    args: list[str],
) -> None:
    monkeypatch.setenv("TIER_NAME", env_name)
    assert main(["create-tier", *args]) == 2
    assert "invalid tier name" in capsys.readouterr().err
    assert tiers_in(cli_env) == []


# --- the rate limiter picks up admin changes at once ---------------------------------------


async def post_as(c: httpx.AsyncClient, username: str, headers: Headers) -> httpx.Response:
    return await c.post(f"{API}/{username}/post", json=POST_BODY, headers=headers)


async def assert_posted(c: httpx.AsyncClient, username: str, headers: Headers, limit: int) -> None:
    response = await post_as(c, username, headers)
    assert response.status_code == 201, response.text
    assert response.headers["x-ratelimit-limit"] == str(limit)


async def assert_limited(
    c: httpx.AsyncClient, username: str, headers: Headers, limit: int, period: int
) -> None:
    response = await post_as(c, username, headers)
    error_detail(response, 429)
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= period


async def post_count(c: httpx.AsyncClient, username: str) -> int:
    page = await get_ok(c, f"{API}/{username}/posts")
    count: int = page["total_count"]
    return count


@needs("posts")
async def test_limit_change_applies_at_once(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as c:
        admin = superuser_headers
        alice = await sign_up(c, "alice")
        gold = await new_tier(c, admin, "gold")
        await assign(c, admin, "alice", gold["id"])
        # A tier without a rule for the path: the default limit (and the rules are now cached).
        await assert_posted(c, "alice", alice, 100)

        rule = await new_limit(c, admin, "gold", path=POST_TEMPLATE, limit=2, period=3600)
        # What was made in the window still counts: one request made, so one is left.
        first = await post_as(c, "alice", alice)
        assert first.status_code == 201, first.text
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "0"
        await assert_limited(c, "alice", alice, 2, 3600)
        assert await post_count(c, "alice") == 2  # the refused post was not created

        response = await c.patch(
            f"{API}/tier/gold/rate_limit/{rule['id']}", json={"limit": 5}, headers=admin
        )
        assert response.status_code == 200, response.text
        for _ in range(3):
            await assert_posted(c, "alice", alice, 5)
        await assert_limited(c, "alice", alice, 5, 3600)

        # Lowered below what the user has already made in the window: refused at once.
        response = await c.patch(
            f"{API}/tier/gold/rate_limit/{rule['id']}", json={"limit": 3}, headers=admin
        )
        assert response.status_code == 200, response.text
        await assert_limited(c, "alice", alice, 3, 3600)
        assert await post_count(c, "alice") == 5


@needs("posts")
async def test_limit_change_through_another_app_instance_applies_at_once(
    client: httpx.AsyncClient, app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    """Admin changes made through one process reach the limiter of another at once."""
    admin = superuser_headers
    await register(client, "alice")
    gold = await new_tier(client, admin, "gold")
    await assign(client, admin, "alice", gold["id"])
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as c:
        alice = bearer(await login(c, "alice"))
        await assert_posted(c, "alice", alice, 100)  # rules for gold cached: none
        rule = await new_limit(client, admin, "gold", path=POST_TEMPLATE, limit=2, period=3600)
        await assert_posted(c, "alice", alice, 2)  # the second in the window
        await assert_limited(c, "alice", alice, 2, 3600)
        response = await client.patch(
            f"{API}/tier/gold/rate_limit/{rule['id']}", json={"limit": 5}, headers=admin
        )
        assert response.status_code == 200, response.text
        await assert_posted(c, "alice", alice, 5)
        response = await client.delete(f"{API}/tier/gold/rate_limit/{rule['id']}", headers=admin)
        assert response.status_code == 204, response.text
        await assert_posted(c, "alice", alice, 100)


@needs("posts")
async def test_user_tier_change_applies_on_the_next_request(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as c:
        admin = superuser_headers
        alice = await sign_up(c, "alice")
        gold = await new_tier(c, admin, "gold")
        silver = await new_tier(c, admin, "silver")
        await new_limit(c, admin, "gold", path=POST_TEMPLATE, limit=2, period=3600)
        await new_limit(c, admin, "silver", path=POST_TEMPLATE, limit=5, period=3600)
        await assign(c, admin, "alice", gold["id"])
        await assert_posted(c, "alice", alice, 2)
        await assert_posted(c, "alice", alice, 2)
        await assert_limited(c, "alice", alice, 2, 3600)

        await assign(c, admin, "alice", silver["id"])
        await assert_posted(c, "alice", alice, 5)

        await assign(c, admin, "alice", gold["id"])  # back: gold's window is still spent
        await assert_limited(c, "alice", alice, 2, 3600)


@needs("posts")
async def test_deleting_the_rule_restores_the_default_at_once(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as c:
        admin = superuser_headers
        alice = await sign_up(c, "alice")
        gold = await new_tier(c, admin, "gold")
        rule = await new_limit(c, admin, "gold", path=POST_TEMPLATE, limit=1, period=3600)
        await assign(c, admin, "alice", gold["id"])
        await assert_posted(c, "alice", alice, 1)
        await assert_limited(c, "alice", alice, 1, 3600)
        response = await c.delete(f"{API}/tier/gold/rate_limit/{rule['id']}", headers=admin)
        assert response.status_code == 204, response.text
        await assert_posted(c, "alice", alice, 100)


@needs("posts")
async def test_a_rule_for_the_concrete_path_wins_over_the_template(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as c:
        admin = superuser_headers
        alice = await sign_up(c, "alice")
        bob = await sign_up(c, "bob")
        carol = await sign_up(c, "carol")
        gold = await new_tier(c, admin, "gold")
        await new_limit(c, admin, "gold", path=POST_TEMPLATE, limit=3, period=3600)
        await new_limit(c, admin, "gold", path="/api/v1/alice/post/", limit=1, period=3600)
        await assign(c, admin, "alice", gold["id"])
        await assign(c, admin, "bob", gold["id"])
        await assert_posted(c, "alice", alice, 1)
        await assert_limited(c, "alice", alice, 1, 3600)
        await assert_posted(c, "bob", bob, 3)
        # Without a tier: the default limit.
        await assert_posted(c, "carol", carol, 100)
