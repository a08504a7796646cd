"""The admin panel's view of API keys (api_keys/admin.py): listed without their secrets and
revoked through api_keys.service; and an account deleted, through the API or the panel, loses
its keys for good (API keys react to users' UserDeleted), so a restore brings none back."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.helpers.admin import FROM_PANEL, needs_admin, signed_in_admin, user_id
from tests.helpers.database import query
from tests.helpers.http import API, assert_unauthorized, bearer, client_for, login, sign_up

pytestmark = needs_admin


async def test_a_revoked_api_key_stops_working(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    owner = await sign_up(client, "owner")
    created = await client.post(f"{API}/user/me/api-keys", json={"name": "ci"}, headers=owner)
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/user/me/", headers=key)).status_code == 200

    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        listed = await panel.get("/admin/api-key/list")
        assert "ci" in listed.text
        assert created.json()["prefix"] in listed.text
        rows = await query(database_url, "SELECT secret_hash FROM api_keys")
        assert rows[0][0] not in listed.text
        revoked = await panel.get(
            f"/admin/api-key/action/revoke?pks={created.json()['id']}", headers=FROM_PANEL
        )
        assert revoked.status_code == 302, revoked.text
        # No way to create, edit or delete keys from the panel.
        assert (await panel.get("/admin/api-key/create")).status_code == 403
    assert_unauthorized(await client.get(f"{API}/user/me/", headers=key))


async def test_a_deleted_account_loses_its_keys_for_good(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    keys: dict[str, dict[str, str]] = {}
    for username in ("byself", "bypanel"):
        headers = await sign_up(client, username)
        made = await client.post(f"{API}/user/me/api-keys", json={"name": "ci"}, headers=headers)
        assert made.status_code == 201, made.text
        keys[username] = {"X-API-Key": made.json()["key"]}
        if username == "byself":
            deleted = await client.delete(f"{API}/user/byself", headers=headers)
            assert deleted.status_code == 204, deleted.text

    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "root")
        ids = [await user_id(database_url, name) for name in keys]
        deleted = await panel.get(
            f"/admin/user/action/soft-delete?pks={ids[1]}", headers=FROM_PANEL
        )
        assert deleted.status_code == 302, deleted.text
        live = await query(database_url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
        assert live == [(0,)]
        restored = await panel.get(
            f"/admin/user/action/restore?pks={ids[0]},{ids[1]}", headers=FROM_PANEL
        )
        assert restored.status_code == 302, restored.text

    for username, key in keys.items():
        assert_unauthorized(await client.get(f"{API}/user/me/", headers=key))
        mine = await client.get(
            f"{API}/user/me/api-keys", headers=bearer(await login(client, username))
        )
        assert mine.json() == [], username
