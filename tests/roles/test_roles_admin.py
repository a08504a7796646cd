"""The admin panel's view of roles (roles/admin.py), written through roles.service: a role
edited in the panel changes its holders' permissions at once, and the panel grants nothing the
admin does not hold, as PUT /roles refuses it."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.helpers.admin import SAME_ORIGIN, admin_sign_in, needs_admin, signed_in_admin
from tests.helpers.database import query
from tests.helpers.http import API, Headers, client_for, sign_up
from tests.helpers.roles import grant_new_role, permissions_of

pytestmark = needs_admin


async def test_editing_a_role_changes_its_holders_permissions_at_once(
    app: FastAPI, client: httpx.AsyncClient, superuser_headers: Headers, database_url: str
) -> None:
    alice = await sign_up(client, "alice")
    role_id = await grant_new_role(
        client, superuser_headers, "alice", "editors", "posts.delete_any"
    )
    assert await permissions_of(client, alice) == ["posts.delete_any"]

    async with client_for(app) as panel:
        await signed_in_admin(panel, database_url, "boss")
        edit = f"/admin/role/edit/{role_id}"
        form: dict[str, Any] = {
            "name": "editors",
            "description": "can purge",
            "permissions": ["posts.delete_any", "posts.purge"],
            "save": "Save",
        }
        saved = await panel.post(edit, data=form, headers=SAME_ORIGIN)
        assert saved.status_code == 302, saved.text
        assert await permissions_of(client, alice) == ["posts.delete_any", "posts.purge"]
        listed = await panel.get("/admin/role/list")
        assert "posts.delete_any, posts.purge" in listed.text

        unknown = await panel.post(
            edit, data={**form, "permissions": ["no.such"]}, headers=SAME_ORIGIN
        )
        assert unknown.status_code == 400
        assert await permissions_of(client, alice) == ["posts.delete_any", "posts.purge"]

    # An admin who is no superuser cannot grant what they do not hold (as with PUT /roles).
    await grant_new_role(client, superuser_headers, "alice", "panel", "admin.access")
    async with client_for(app) as panel:
        assert (await admin_sign_in(panel, "alice")).status_code == 302
        raised = await panel.post(
            f"/admin/role/edit/{role_id}",
            data={**form, "permissions": ["users.purge"]},
            headers=SAME_ORIGIN,
        )
        assert raised.status_code == 400
        assert "You do not hold these permissions" in raised.text
        # Losing admin.access ends the panel at the next request.
        taken = await client.put(
            f"{API}/user/alice/roles", json={"roles": []}, headers=superuser_headers
        )
        assert taken.status_code == 200
        assert (await panel.get("/admin/")).status_code == 302


async def test_roles_are_created_and_deleted_through_the_service(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await signed_in_admin(client, database_url, "root")
    role = {"name": "helpers", "description": "", "permissions": ["posts.delete_any"]}
    made = await client.post(
        "/admin/role/create", data={**role, "save": "Save"}, headers=SAME_ORIGIN
    )
    assert made.status_code == 302, made.text
    unknown = await client.post(
        "/admin/role/create",
        data={**role, "name": "others", "permissions": ["no.such"], "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert unknown.status_code == 400
    role_id = (await query(database_url, "SELECT id FROM roles WHERE name = 'helpers'"))[0][0]
    removed = await client.delete(f"/admin/role/delete?pks={role_id}", headers=SAME_ORIGIN)
    assert removed.status_code == 200, removed.text
    assert await query(database_url, "SELECT name FROM roles") == []
