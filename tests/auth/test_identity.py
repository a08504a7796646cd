"""The caller with auth's own credential only (core/identity.py): what an app does once the
features that plug into it are removed. The app's identity is replaced by one with the
access token's authenticator and no permission source, as without API keys and roles."""

from __future__ import annotations

import pytest
from sqlalchemy import literal
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.dependencies import TOKENS
from app.core.identity import GRANTS_VERSION, INVALID_CREDENTIALS, Identity, PermissionSource
from app.core.state import resources_of
from tests.helpers.http import (
    API,
    AppClientFactory,
    assert_unauthorized,
    register,
    sign_up,
    sign_up_superuser,
)

ME = f"{API}/user/me/"
# Shaped like an API key: `ak_`, a 12-digit hex prefix, a secret.
KEY_SHAPED = "ak_0123456789ab_" + "s" * 43


async def test_without_plug_ins_a_token_is_the_only_credential_and_superusers_hold_all(
    app_client: AppClientFactory, database_url: str
) -> None:
    async with app_client() as client:
        resources = resources_of(client.app)
        resources.identity = Identity((TOKENS,), None)
        root = await sign_up_superuser(client, database_url)
        alice = await sign_up(client, "alice")
        await register(client, "bob")

        # A key-shaped bearer token is one more invalid token.
        answer = await client.get(ME, headers={"Authorization": f"Bearer {KEY_SHAPED}"})
        assert_unauthorized(answer)
        assert answer.json()["detail"] == INVALID_CREDENTIALS
        # And the key header is not read: the request is anonymous.
        answer = await client.get(ME, headers={"X-API-Key": KEY_SHAPED})
        assert_unauthorized(answer)
        assert answer.json()["detail"] == "Not authenticated"
        assert (await client.get(ME, headers=alice)).json()["username"] == "alice"

        # Without a permission source, superusers hold every permission, nobody else any.
        shown = (await client.get(f"{API}/user/bob", headers=alice)).json()
        assert "email" not in shown
        shown = (await client.get(f"{API}/user/bob", headers=root)).json()
        assert shown["email"] == "bob@example.com"
        refused = await client.delete(f"{API}/db_user/bob", headers=alice)
        assert refused.status_code == 403, refused.text
        purged = await client.delete(f"{API}/db_user/bob", headers=root)
        assert purged.status_code == 204, purged.text


async def _nothing(engine: AsyncEngine, user_id: int) -> frozenset[str]:
    return frozenset()


def test_a_caller_column_has_a_name_of_its_own() -> None:
    """A feature's column read with the caller shadows neither what the credential check
    selects, nor the grants version, nor another feature's: the identity is not built."""
    with pytest.raises(ValueError, match="clash with a credential check's own: username"):
        Identity((TOKENS,), None, [literal(1).label("username")])
    source = PermissionSource(_nothing, literal(0))
    with pytest.raises(ValueError, match=f"declared twice: {GRANTS_VERSION}"):
        Identity((TOKENS,), source, [literal(1).label(GRANTS_VERSION)])
    with pytest.raises(ValueError, match="declared twice: quota"):
        Identity((TOKENS,), None, [literal(1).label("quota"), literal(2).label("quota")])
    assert Identity((TOKENS,), source, [literal(1).label("quota")]).source is source
