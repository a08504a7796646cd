"""The admin panel's views of tiers and rate limits (tiers/admin.py), written through
tiers.service: paths normalized and conflicts refused as by the API, a changed limit applied
at once, a tier given to a user and taken back in the User tiers view, and no tier deleted
while users have it."""

from __future__ import annotations

import httpx

from tests.helpers.admin import SAME_ORIGIN, needs_admin, signed_in_admin, user_id
from tests.helpers.database import query
from tests.helpers.features import needs
from tests.helpers.http import API, AppClientFactory, sign_up

pytestmark = needs_admin


@needs("tasks")
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

        # The user's tier, given in the User tiers view (tiers.service, as PATCH
        # /user/{username}/tier); a tier that does not exist is refused.
        limited_id = await user_id(database_url, "limited")
        assignment = {"user_id": limited_id, "tier_id": tier_id, "save": "Save"}
        missing = await client.post(
            "/admin/user-tier/create",
            data={**assignment, "tier_id": tier_id + 1000},
            headers=SAME_ORIGIN,
        )
        assert missing.status_code == 400
        assert await query(database_url, "SELECT user_id FROM user_tiers") == []
        given = await client.post("/admin/user-tier/create", data=assignment, headers=SAME_ORIGIN)
        assert given.status_code == 302, given.text
        tier = await client.get(f"{API}/user/limited/tier", headers=headers)
        assert tier.json()["tier"]["name"] == "tight"

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
    author_id = await user_id(database_url, "author")
    given = await client.post(
        "/admin/user-tier/create",
        data={"user_id": author_id, "tier_id": tier_id, "save": "Save"},
        headers=SAME_ORIGIN,
    )
    assert given.status_code == 302, given.text
    kept = await client.delete(f"/admin/tier/delete?pks={tier_id}", headers=SAME_ORIGIN)
    assert "still+assigned" in kept.text  # the list's URL, with the refusal as its error
    assert await query(database_url, "SELECT name FROM tiers") == [("platinum",)]
    taken = await client.delete(f"/admin/user-tier/delete?pks={author_id}", headers=SAME_ORIGIN)
    assert taken.status_code == 200, taken.text
    assert await query(database_url, "SELECT user_id FROM user_tiers") == []
    gone = await client.delete(f"/admin/tier/delete?pks={tier_id}", headers=SAME_ORIGIN)
    assert gone.status_code == 200, gone.text
    assert await query(database_url, "SELECT name FROM tiers") == []
