"""Roles and API keys over HTTP, as several test modules use them: defining a role, giving
it to a user, reading a caller's permissions, creating a key and sending it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers.http import API, Headers


async def create_role(
    client: httpx.AsyncClient, headers: Headers, name: str, *permissions: str
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/roles", json={"name": name, "permissions": list(permissions)}, headers=headers
    )
    assert response.status_code == 201, response.text
    role: dict[str, Any] = response.json()
    return role


async def set_roles(
    client: httpx.AsyncClient, headers: Headers, username: str, *roles: str
) -> dict[str, Any]:
    """Give `username` exactly `roles`."""
    response = await client.put(
        f"{API}/user/{username}/roles", json={"roles": list(roles)}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def grant_new_role(
    client: httpx.AsyncClient, admin: Headers, username: str, role: str, *permissions: str
) -> int:
    """Create `role` with `permissions` and make it `username`'s only role; the role's id."""
    created = await create_role(client, admin, role, *permissions)
    await set_roles(client, admin, username, role)
    role_id: int = created["id"]
    return role_id


async def permissions_of(client: httpx.AsyncClient, headers: Headers) -> list[str]:
    """What GET /user/me/permissions says the caller holds."""
    response = await client.get(f"{API}/user/me/permissions", headers=headers)
    assert response.status_code == 200, response.text
    names: list[str] = response.json()["permissions"]
    return names


async def create_key(
    client: httpx.AsyncClient, headers: Headers, name: str = "ci", **body: Any
) -> dict[str, Any]:
    """A new API key of the signed-in user (`key` is the whole key)."""
    response = await client.post(
        f"{API}/user/me/api-keys", json={"name": name, **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def key_bearer(key: str) -> Headers:
    return {"Authorization": f"Bearer {key}"}


def key_header(key: str) -> Headers:
    return {"X-API-Key": key}
