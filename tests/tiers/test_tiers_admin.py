"""The admin panel's views of tiers and rate limits (tiers/admin.py), written through
tiers.service: paths normalized and conflicts refused as by the API, a changed limit applied
at once, a tier given to a user from the users' view, and no tier deleted while users have
it."""

from __future__ import annotations

import httpx

from tests.helpers.admin import SAME_ORIGIN, needs_admin, signed_in_admin, user_id
from tests.helpers.database import execute, query
from tests.helpers.http import API, AppClientFactory, sign_up

pytestmark = needs_admin


async def test_tier_rate_limit_and_user_changes_apply_at_once(
    app_client: AppClientFactory, database_url: str
) -> None:
    # An app of its own: each process keeps a tier's rules under their version, and the
    # tests restart both the ids and the versions, so the session's app may hold another
    # test's rules for this tier's id and version.
    async with app_client() as client:
        headers = await sign_up(client, "limited")
        await signed_in_admin(client, database_url, "root")
        created = await client.post(
            "/admin/tier/create", data={"name": "tight", "save": "Save"}, headers=SAME_ORIGIN
        )
        assert created.status_code == 302, created.text
        tier_id = (await query(database_url, "SELECT id FROM tiers WHERE name = 'tight'"))[0][0]
        limit = {"name": "tasks", "path": "/api/v1/tasks/task/", "limit": 1, "period": 3600}
        added = await client.post(
            "/admin/rate-limit/create",
            data={**limit, "tier_id": tier_id, "save": "Save"},
            headers=SAME_ORIGIN,
        )
        assert added.status_code == 302, added.text
        stored = await query(database_url, "SELECT id, path FROM rate_limits")
        assert [path for _, path in stored] == ["api/v1/tasks/task"]  # normalized as by the API

        # The user's edit form: a new name and the tier; a tier that does not exist is refused.
        user_form = {
            "name": "Limited One",
            "username": "limited",
            "email": "limited@example.com",
            "tier_id": tier_id,
            "save": "Save",
        }
        edit = f"/admin/user/edit/{await user_id(database_url, 'limited')}"
        missing = await client.post(
            edit, data={**user_form, "tier_id": tier_id + 1000}, headers=SAME_ORIGIN
        )
        assert missing.status_code == 400
        assert "Tier not found" in missing.text
        saved = await client.post(edit, data=user_form, headers=SAME_ORIGIN)
        assert saved.status_code == 302, saved.text
        assert (await client.get(f"{API}/user/limited")).json()["name"] == "Limited One"

        task = f"{API}/tasks/task"
        assert (
            await client.post(task, params={"message": "a"}, headers=headers)
        ).status_code == 201
        assert (
            await client.post(task, params={"message": "b"}, headers=headers)
        ).status_code == 429
        raised = await client.post(
            f"/admin/rate-limit/edit/{stored[0][0]}",
            data={**limit, "limit": 5, "save": "Save"},
            headers=SAME_ORIGIN,
        )
        assert raised.status_code == 302, raised.text
        assert (
            await client.post(task, params={"message": "c"}, headers=headers)
        ).status_code == 201


async def test_tiers_are_renamed_and_deleted_through_the_service(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await sign_up(client, "author")
    await signed_in_admin(client, database_url, "root")
    made = await client.post(
        "/admin/tier/create", data={"name": "gold", "save": "Save"}, headers=SAME_ORIGIN
    )
    assert made.status_code == 302, made.text
    tier_id = (await query(database_url, "SELECT id FROM tiers"))[0][0]
    renamed = await client.post(
        f"/admin/tier/edit/{tier_id}",
        data={"name": "platinum", "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert renamed.status_code == 302, renamed.text
    limit = {"tier_id": tier_id, "name": "x", "path": "api/v1/x", "limit": 1, "period": 60}
    added = await client.post(
        "/admin/rate-limit/create", data={**limit, "save": "Save"}, headers=SAME_ORIGIN
    )
    assert added.status_code == 302, added.text
    limit_id = (await query(database_url, "SELECT id FROM rate_limits"))[0][0]
    dropped = await client.delete(f"/admin/rate-limit/delete?pks={limit_id}", headers=SAME_ORIGIN)
    assert dropped.status_code == 200, dropped.text
    assert await query(database_url, "SELECT id FROM rate_limits") == []
    await execute(
        database_url, "UPDATE users SET tier_id = :t WHERE username = 'author'", t=tier_id
    )
    kept = await client.delete(f"/admin/tier/delete?pks={tier_id}", headers=SAME_ORIGIN)
    assert "still+assigned" in kept.text  # the list's URL, with the refusal as its error
    assert await query(database_url, "SELECT name FROM tiers") == [("platinum",)]
    await execute(database_url, "UPDATE users SET tier_id = NULL")
    gone = await client.delete(f"/admin/tier/delete?pks={tier_id}", headers=SAME_ORIGIN)
    assert gone.status_code == 200, gone.text
    assert await query(database_url, "SELECT name FROM tiers") == []
