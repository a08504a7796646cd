"""Roles and permissions through HTTP: the declared permissions, /roles CRUD, users' roles,
the guard against handing out what one does not hold, grants applying on the next request
(in this process and another), and the former superuser routes now guarded by permissions.

The superuser (`superuser_headers`, signed up as root) is the admin of a fresh install.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.helpers.database import empty_tables, engine_for, query, wait_for_lock_waiters
from tests.helpers.features import installed, needs
from tests.helpers.http import (
    API,
    AppClientFactory,
    Headers,
    assert_unauthorized,
    bearer,
    client_for,
    error_detail,
    login,
    register,
    sign_up,
)
from tests.helpers.roles import (
    create_role,
    grant_new_role,
    permissions_of,
    set_roles,
)
from tests.helpers.settings import PASSWORD

ROLE_FIELDS = {"id", "name", "description", "permissions", "created_at", "updated_at"}
PAGE_FIELDS = {"data", "total_count", "has_more", "page", "items_per_page"}
EXPECTED_PERMISSIONS = {
    "docs.read",
    "posts.delete_any",
    "posts.purge",
    "roles.manage",
    "users.purge",
    "users.read_private",
    *(["tiers.manage"] if installed("tiers") else []),
}
POST_BODY = {"title": "Hello", "text": "A post"}


async def new_post(client: httpx.AsyncClient, headers: Headers, username: str) -> int:
    response = await client.post(f"{API}/{username}/post", json=POST_BODY, headers=headers)
    assert response.status_code == 201, response.text
    post_id: int = response.json()["id"]
    return post_id


async def roles_of(client: httpx.AsyncClient, admin: Headers, username: str) -> list[str]:
    response = await client.get(f"{API}/user/{username}/roles", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == username
    roles: list[str] = body["roles"]
    return roles


async def role_names(client: httpx.AsyncClient, admin: Headers) -> list[str]:
    response = await client.get(f"{API}/roles", params={"items_per_page": 100}, headers=admin)
    assert response.status_code == 200, response.text
    return [role["name"] for role in response.json()["data"]]


def assert_forbidden(response: httpx.Response, *needles: str) -> None:
    detail = error_detail(response, 403)
    assert isinstance(detail, str), detail
    for needle in needles:
        assert needle in detail, detail


# --- the declared permissions --------------------------------------------------------------


async def test_permissions_lists_every_declared_permission(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    alice = await sign_up(client, "alice")
    response = await client.get(f"{API}/permissions", headers=alice)
    assert response.status_code == 200, response.text
    listed = response.json()
    names = [p["name"] for p in listed]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert set(names) >= EXPECTED_PERMISSIONS, names
    for permission in listed:
        assert set(permission) == {"name", "description"}, permission
        assert permission["description"].strip(), permission
    assert_unauthorized(await client.get(f"{API}/permissions"))
    assert_unauthorized(await client.get(f"{API}/user/me/permissions"))
    # A normal user holds none; a superuser holds every declared one.
    assert await permissions_of(client, alice) == []
    assert await permissions_of(client, superuser_headers) == names


# --- /roles CRUD ---------------------------------------------------------------------------


async def test_role_crud_by_a_superuser(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    body = {
        "name": "moderator",
        "description": "  Keeps the peace  ",
        "permissions": ["posts.purge", "posts.delete_any", "posts.purge"],
    }
    response = await client.post(f"{API}/roles", json=body, headers=admin)
    assert response.status_code == 201, response.text
    role = response.json()
    assert set(role) == ROLE_FIELDS
    assert role["name"] == "moderator"
    assert role["description"] == "Keeps the peace"
    assert role["permissions"] == ["posts.delete_any", "posts.purge"]  # sorted and distinct
    assert (await client.get(f"{API}/roles/moderator", headers=admin)).json() == role

    # Duplicate name: 409, nothing added.
    error_detail(await client.post(f"{API}/roles", json={"name": "moderator"}, headers=admin), 409)
    other = await create_role(client, admin, "auditor")
    assert other["permissions"] == []
    assert other["description"] == ""

    page = (await client.get(f"{API}/roles", params={"items_per_page": 1}, headers=admin)).json()
    assert set(page) == PAGE_FIELDS
    assert page["data"] == [role]
    assert (page["total_count"], page["has_more"], page["page"]) == (2, True, 1)
    second = await client.get(
        f"{API}/roles", params={"page": 2, "items_per_page": 1}, headers=admin
    )
    assert [r["name"] for r in second.json()["data"]] == ["auditor"]

    # Rename and change the permissions.
    response = await client.patch(
        f"{API}/roles/moderator",
        json={"name": "janitor", "permissions": ["users.purge", "posts.purge"]},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["id"], changed["name"]) == (role["id"], "janitor")
    assert changed["permissions"] == ["posts.purge", "users.purge"]
    assert changed["description"] == "Keeps the peace"
    assert changed["updated_at"] is not None
    error_detail(await client.get(f"{API}/roles/moderator", headers=admin), 404)
    assert (await client.get(f"{API}/roles/janitor", headers=admin)).json() == changed
    # Renaming onto a taken name: 409, unchanged.
    taken = await client.patch(f"{API}/roles/janitor", json={"name": "auditor"}, headers=admin)
    error_detail(taken, 409)
    assert await role_names(client, admin) == ["janitor", "auditor"]

    # Delete: 204, then 404 everywhere.
    assert (await client.delete(f"{API}/roles/janitor", headers=admin)).status_code == 204
    for method in ("GET", "PATCH", "DELETE"):
        body_or_none = {"description": "x"} if method == "PATCH" else None
        response = await client.request(
            method, f"{API}/roles/janitor", json=body_or_none, headers=admin
        )
        error_detail(response, 404)
    assert await role_names(client, admin) == ["auditor"]


async def test_unknown_permissions_are_422_naming_them(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    body = {"name": "bad", "permissions": ["posts.delete_any", "posts.fly", "zz.top"]}
    detail = error_detail(await client.post(f"{API}/roles", json=body, headers=admin), 422)
    assert isinstance(detail, list), detail
    assert detail[0]["loc"] == ["body", "permissions"], detail
    assert "posts.fly" in detail[0]["msg"], detail
    assert "zz.top" in detail[0]["msg"], detail
    assert "posts.delete_any" not in detail[0]["msg"], detail
    await create_role(client, admin, "good", "posts.delete_any")
    patched = await client.patch(
        f"{API}/roles/good", json={"permissions": ["posts.fly"]}, headers=admin
    )
    error_detail(patched, 422)
    good = (await client.get(f"{API}/roles/good", headers=admin)).json()
    assert good["permissions"] == ["posts.delete_any"]
    assert await role_names(client, admin) == ["good"]


BAD_ROLE_BODIES: list[dict[str, Any]] = [
    {"name": "r", "id": 4},
    {"name": "x" * 51},
    {"name": ""},
    {"name": "two words"},
    {"name": "a/b"},
    {},
    {"name": "r", "description": "x" * 256},
    {"name": "r", "permissions": "posts.purge"},
    {"name": "r", "permissions": ["posts"]},
    {"name": "r", "permissions": ["Posts.Purge"]},
    {"name": "r", "permissions": ["a." + "b" * 63]},
    {"name": "r", "permissions": ["posts.purge"] * 201},
]
BAD_ROLE_UPDATES: list[dict[str, Any]] = [
    {"id": 9},
    {"name": "x" * 51},
    {"name": "no spaces"},
    {"permissions": ["posts.delete_any"] * 201},
    {"permissions": ["nope"]},
]


async def test_bad_role_bodies_are_422(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    for body in BAD_ROLE_BODIES:
        error_detail(await client.post(f"{API}/roles", json=body, headers=admin), 422)
    assert await role_names(client, admin) == []
    role = await create_role(client, admin, "editor", "posts.delete_any")
    for body in BAD_ROLE_UPDATES:
        error_detail(await client.patch(f"{API}/roles/editor", json=body, headers=admin), 422)
    assert (await client.get(f"{API}/roles/editor", headers=admin)).json() == role


async def test_role_routes_refuse_normal_users_and_anonymous(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    await create_role(client, superuser_headers, "editor", "posts.delete_any")
    alice = await sign_up(client, "alice")
    routes: list[tuple[str, str, Any]] = [
        ("POST", "/roles", {"name": "mine"}),
        ("GET", "/roles", None),
        ("GET", "/roles/editor", None),
        ("PATCH", "/roles/editor", {"permissions": []}),
        ("DELETE", "/roles/editor", None),
        ("GET", "/user/alice/roles", None),
        ("PUT", "/user/alice/roles", {"roles": ["editor"]}),
    ]
    for method, path, body in routes:
        refused = await client.request(method, f"{API}{path}", json=body, headers=alice)
        assert_forbidden(refused, "roles.manage")
        assert_unauthorized(await client.request(method, f"{API}{path}", json=body))
    assert await role_names(client, superuser_headers) == ["editor"]
    assert await roles_of(client, superuser_headers, "alice") == []
    editor = (await client.get(f"{API}/roles/editor", headers=superuser_headers)).json()
    assert editor["permissions"] == ["posts.delete_any"]


# --- users' roles --------------------------------------------------------------------------


async def test_put_user_roles_sets_exactly_those(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    for name in ("a", "b", "c"):
        await create_role(client, admin, name)
    await register(client, "alice")
    assert await roles_of(client, admin, "alice") == []
    assert await set_roles(client, admin, "alice", "b", "a", "b") == {
        "username": "alice",
        "roles": ["a", "b"],
    }
    assert await roles_of(client, admin, "alice") == ["a", "b"]
    assert (await set_roles(client, admin, "alice", "c", "a"))["roles"] == ["a", "c"]
    assert await roles_of(client, admin, "alice") == ["a", "c"]

    # An unknown role: 422 naming it, and nothing changes.
    url = f"{API}/user/alice/roles"
    detail = error_detail(await client.put(url, json={"roles": ["a", "ghost"]}, headers=admin), 422)
    assert "ghost" in str(detail), detail
    for bad in ({"roles": "a"}, {"roles": ["a"], "extra": 1}, {}, {"roles": ["bad name"]}):
        error_detail(await client.put(url, json=bad, headers=admin), 422)
    assert await roles_of(client, admin, "alice") == ["a", "c"]

    # An unknown (or deleted) user: 404.
    error_detail(
        await client.put(f"{API}/user/ghost/roles", json={"roles": []}, headers=admin), 404
    )
    error_detail(await client.get(f"{API}/user/ghost/roles", headers=admin), 404)

    # A deleted role leaves its holders' roles.
    assert (await client.delete(f"{API}/roles/c", headers=admin)).status_code == 204
    assert await roles_of(client, admin, "alice") == ["a"]
    assert (await set_roles(client, admin, "alice"))["roles"] == []
    assert await roles_of(client, admin, "alice") == []


# --- the scenario ------------------------------------------------------------------


@needs("posts")
async def test_a_moderator_role_lets_carol_delete_bobs_posts_but_not_dave(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    dave = await sign_up(client, "dave")
    first, second = await new_post(client, bob, "bob"), await new_post(client, bob, "bob")
    await create_role(client, admin, "moderator", "posts.delete_any")
    await set_roles(client, admin, "carol", "moderator")

    deleted = await client.delete(f"{API}/bob/post/{first}", headers=carol)
    assert deleted.status_code == 204, deleted.text
    error_detail(await client.get(f"{API}/bob/post/{first}"), 404)

    error_detail(await client.delete(f"{API}/bob/post/{second}", headers=dave), 403)
    assert (await client.get(f"{API}/bob/post/{second}")).status_code == 200
    # Deleting is all the role gives: no editing, no purging.
    patched = await client.patch(
        f"{API}/bob/post/{second}", json={"title": "Edited"}, headers=carol
    )
    error_detail(patched, 403)
    assert_forbidden(
        await client.delete(f"{API}/bob/db_post/{second}", headers=carol), "posts.purge"
    )
    assert (await client.get(f"{API}/bob/post/{second}")).json()["title"] == "Hello"


# --- no escalation -------------------------------------------------------------------------


async def test_a_role_manager_hands_out_only_what_they_hold(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    mia = await sign_up(client, "mia")
    await register(client, "nick")
    await grant_new_role(client, admin, "mia", "manager", "roles.manage")
    await create_role(client, admin, "purger", "users.purge")
    assert await permissions_of(client, mia) == ["roles.manage"]

    # Creating a role with a permission mia lacks: 403 naming it, nothing created.
    body = {"name": "sneaky", "permissions": ["roles.manage", "users.purge"]}
    assert_forbidden(await client.post(f"{API}/roles", json=body, headers=mia), "users.purge")
    # Giving (to anyone, herself too) a role whose permissions she lacks: 403.
    for username in ("nick", "mia"):
        refused = await client.put(
            f"{API}/user/{username}/roles", json={"roles": ["manager", "purger"]}, headers=mia
        )
        assert_forbidden(refused, "users.purge")
    # Changing or deleting a role with permissions she lacks, or adding one to hers: 403.
    for method, path, payload in (
        ("PATCH", "/roles/purger", {"permissions": []}),
        ("PATCH", "/roles/purger", {"name": "renamed"}),
        ("DELETE", "/roles/purger", None),
        ("PATCH", "/roles/manager", {"permissions": ["roles.manage", "users.purge"]}),
    ):
        refused = await client.request(method, f"{API}{path}", json=payload, headers=mia)
        error_detail(refused, 403)

    # Within her own permissions: allowed.
    helper = await create_role(client, mia, "helper", "roles.manage")
    assert helper["permissions"] == ["roles.manage"]
    await create_role(client, mia, "nobody")
    assert (await set_roles(client, mia, "nick", "helper", "nobody"))["roles"] == [
        "helper",
        "nobody",
    ]
    nick = bearer(await login(client, "nick"))
    assert await permissions_of(client, nick) == ["roles.manage"]

    # Taking away a role she could not give is refused too.
    await set_roles(client, admin, "nick", "helper", "purger")
    assert_forbidden(
        await client.put(f"{API}/user/nick/roles", json={"roles": ["helper"]}, headers=mia),
        "users.purge",
    )

    assert await role_names(client, admin) == ["manager", "purger", "helper", "nobody"]
    purger = (await client.get(f"{API}/roles/purger", headers=admin)).json()
    assert purger["permissions"] == ["users.purge"]
    manager = (await client.get(f"{API}/roles/manager", headers=admin)).json()
    assert manager["permissions"] == ["roles.manage"]
    assert await roles_of(client, admin, "mia") == ["manager"]
    assert await roles_of(client, admin, "nick") == ["helper", "purger"]
    assert await permissions_of(client, mia) == ["roles.manage"]


# --- changes apply at once -----------------------------------------------------------------


@needs("posts")
async def test_grants_apply_on_the_next_request(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    posts = [await new_post(client, bob, "bob") for _ in range(3)]

    async def carol_deletes(post_id: int) -> int:
        return (await client.delete(f"{API}/bob/post/{post_id}", headers=carol)).status_code

    assert await permissions_of(client, carol) == []  # cached in this process: none
    await grant_new_role(client, admin, "carol", "moderator", "posts.delete_any")
    assert await permissions_of(client, carol) == ["posts.delete_any"]
    assert await carol_deletes(posts[0]) == 204

    # The role's permission taken away: refused on the next request.
    await client.patch(
        f"{API}/roles/moderator", json={"permissions": ["posts.purge"]}, headers=admin
    )
    assert await permissions_of(client, carol) == ["posts.purge"]
    assert await carol_deletes(posts[1]) == 403

    # Given back, then the role deleted: refused again.
    await client.patch(
        f"{API}/roles/moderator", json={"permissions": ["posts.delete_any"]}, headers=admin
    )
    assert await permissions_of(client, carol) == ["posts.delete_any"]
    assert (await client.delete(f"{API}/roles/moderator", headers=admin)).status_code == 204
    assert await permissions_of(client, carol) == []
    assert await carol_deletes(posts[1]) == 403

    # A new role, then taken from her (her roles emptied): refused.
    await grant_new_role(client, admin, "carol", "cleaner", "posts.delete_any")
    assert await carol_deletes(posts[1]) == 204
    await set_roles(client, admin, "carol")
    assert await carol_deletes(posts[2]) == 403
    assert (await client.get(f"{API}/bob/post/{posts[2]}")).status_code == 200


async def test_grants_reach_another_app_instance_at_once(
    client: httpx.AsyncClient, app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    """A change made through one process applies on the next request to another: each reads
    the grants version with the token, and drops what it cached under an older one."""
    admin = superuser_headers
    carol = await sign_up(client, "carol")
    async with app_client() as other:
        assert await permissions_of(other, carol) == []  # cached there
        await grant_new_role(client, admin, "carol", "moderator", "posts.delete_any")
        assert await permissions_of(other, carol) == ["posts.delete_any"]
        # And the other way round.
        response = await other.patch(
            f"{API}/roles/moderator", json={"permissions": ["users.purge"]}, headers=admin
        )
        assert response.status_code == 200, response.text
        assert await permissions_of(client, carol) == ["users.purge"]
        assert await permissions_of(other, carol) == ["users.purge"]
        await set_roles(other, admin, "carol")
        assert await permissions_of(client, carol) == []
        assert await permissions_of(other, carol) == []


async def test_emptied_tables_leave_no_cached_grants(
    client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    """The suite's own isolation: user ids restart after each test, so emptying the tables
    must move the grants version on (never back, never to a value seen before), or this
    process would hand one test's grants to the next test's user with the same id."""

    async def version() -> int:
        rows = await query(database_url, "SELECT version FROM grants_version")
        return int(rows[0][0]) if rows else 0

    carol = await sign_up(client, "carol")
    await grant_new_role(client, superuser_headers, "carol", "moderator", "posts.delete_any")
    assert await permissions_of(client, carol) == ["posts.delete_any"]  # cached
    carol_id = (await client.get(f"{API}/user/me/", headers=carol)).json()["id"]
    before = await version()
    await empty_tables(database_url)
    assert await version() > before
    for username in ("anna", "dave"):
        headers = await sign_up(client, username)
    assert (await client.get(f"{API}/user/me/", headers=headers)).json()["id"] == carol_id
    assert await permissions_of(client, headers) == []


# --- races with other transactions ---------------------------------------------------------


@needs("posts")
async def test_giving_roles_during_another_change_is_not_a_500(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    """PUT /user/{username}/roles while another transaction (another admin, `app grant`)
    changes the same rows and commits: (1) the role is deleted meanwhile: the 422 of an
    unknown role; (2) the same role is given meanwhile: done (or 409), alice holds it once.
    Never a 500."""
    admin = superuser_headers
    await register(client, "alice")
    doomed = await create_role(client, admin, "doomed", "posts.delete_any")
    given = await create_role(client, admin, "given", "posts.delete_any")
    alice_id = (await query(database_url, "SELECT id FROM users WHERE username = 'alice'"))[0][0]
    url = f"{API}/user/alice/roles"
    give = "INSERT INTO user_roles (user_id, role_id) VALUES (:user, :role)"
    statements = [
        ("DELETE FROM roles WHERE id = :role", doomed, "doomed", {422}),
        (give, given, "given", {200, 409}),
    ]
    statuses = []
    async with (
        client_for(app, raise_app_exceptions=False) as c,
        engine_for(database_url) as engine,
    ):
        for statement, role, name, expected in statements:
            async with engine.connect() as conn:
                tx = await conn.begin()
                await conn.execute(text(statement), {"role": role["id"], "user": alice_id})
                task = asyncio.create_task(c.put(url, json={"roles": [name]}, headers=admin))
                await wait_for_lock_waiters(database_url, task.done)
                await tx.commit()
                response = await task
            statuses.append((name, response.status_code in expected, response.text))
    assert all(ok for _, ok, _ in statuses), statuses
    assert await roles_of(client, admin, "alice") == ["given"]


# --- the former superuser routes, by permission --------------------------------------------
# Each attempt makes its own target (named after `tag`), tries the route as `headers`, checks
# the effect matches the status, and returns the status.


async def _create_tier(client: httpx.AsyncClient, headers: Headers, tag: str) -> int:
    status = (
        await client.post(f"{API}/tier", json={"name": f"gold{tag}"}, headers=headers)
    ).status_code
    exists = (await client.get(f"{API}/tier/gold{tag}")).status_code == 200
    assert exists == (status == 201), status
    return status


async def _read_private(client: httpx.AsyncClient, headers: Headers, tag: str) -> int:
    """200 when the caller sees another user's email (and tier, with tiers), else 403."""
    await register(client, f"target{tag}")
    shown = (await client.get(f"{API}/user/target{tag}", headers=headers)).json()
    if installed("tiers"):
        tier = await client.get(f"{API}/user/target{tag}/tier", headers=headers)
        assert ("email" in shown) == (tier.status_code == 200), (shown, tier.text)
    return 200 if "email" in shown else 403


async def _purge_user(client: httpx.AsyncClient, headers: Headers, tag: str) -> int:
    await register(client, f"victim{tag}")
    status = (await client.delete(f"{API}/db_user/victim{tag}", headers=headers)).status_code
    exists = (await client.get(f"{API}/user/victim{tag}")).status_code == 200
    assert exists == (status != 204), status
    return status


async def _purge_post(client: httpx.AsyncClient, headers: Headers, tag: str) -> int:
    author = await sign_up(client, f"author{tag}")
    post_id = await new_post(client, author, f"author{tag}")
    url = f"{API}/author{tag}/db_post/{post_id}"
    status = (await client.delete(url, headers=headers)).status_code
    exists = (await client.get(f"{API}/author{tag}/post/{post_id}")).status_code == 200
    assert exists == (status != 204), status
    return status


ROUTES = {
    **({"tiers.manage": (_create_tier, 201)} if installed("tiers") else {}),
    "users.read_private": (_read_private, 200),
    "users.purge": (_purge_user, 204),
    "posts.purge": (_purge_post, 204),
}


async def test_each_former_superuser_route_takes_its_permission_only(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    admin = superuser_headers
    holder = await sign_up(client, "holder")
    for number, permission in enumerate(ROUTES):
        role = await create_role(client, admin, f"ops{number}", permission)
        await set_roles(client, admin, "holder", role["name"])
        for name, (attempt, allowed) in ROUTES.items():
            status = await attempt(client, holder, f"{number}{name[0]}")
            assert status == (allowed if name == permission else 403), (permission, name, status)


async def test_on_a_fresh_install_the_superuser_can_and_a_user_cannot(
    client: httpx.AsyncClient, superuser_headers: Headers
) -> None:
    alice = await sign_up(client, "alice")
    for name, (attempt, allowed) in ROUTES.items():
        assert await attempt(client, alice, "a") == 403, name
        assert await attempt(client, superuser_headers, "s") == allowed, name


async def test_docs_in_staging_open_to_docs_read_holders(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    strong = {
        "ADMIN_PASSWORD": "Another-admin-pass-9",
        "SMTP_HOST": "smtp.invalid",
        "PUBLIC_BASE_URL": "https://app.example.com",
    }
    async with app_client(ENVIRONMENT="staging", **strong) as client:
        reader = await sign_up(client, "reader")
        other = await sign_up(client, "other")
        assert (await client.get("/openapi.json", headers=reader)).status_code == 403
        await grant_new_role(client, superuser_headers, "reader", "docs", "docs.read")
        assert (await client.get("/openapi.json", headers=reader)).status_code == 200
        assert (await client.get("/openapi.json", headers=other)).status_code == 403
        # A browser's HTTP Basic login by the holder.
        basic = base64.b64encode(f"reader:{PASSWORD}".encode()).decode()
        by_basic = await client.get("/docs", headers={"Authorization": f"Basic {basic}"})
        assert by_basic.status_code == 200
