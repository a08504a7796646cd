"""The admin panel over HTTP, as the tests of each domain's admin views use it: signing in,
the headers its origin check wants, and `needs_admin` for a module that tests a domain's
views (skipped when the panel is not installed: `admin` is not in app/domains.py)."""

from __future__ import annotations

import httpx
import pytest

from app.domains import DOMAINS
from tests.helpers.database import execute, query
from tests.helpers.http import register
from tests.helpers.settings import PASSWORD

ORIGIN = "http://test"  # the in-process clients' base URL
SAME_ORIGIN = {"Origin": ORIGIN}
FROM_PANEL = {"Referer": f"{ORIGIN}/admin/"}

needs_admin = pytest.mark.skipif(
    "admin" not in {domain.name for domain in DOMAINS}, reason="the admin panel is not installed"
)


async def admin_sign_in(
    client: httpx.AsyncClient, login_name: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/admin/login",
        data={"username": login_name, "password": password},
        headers=SAME_ORIGIN,
    )


async def signed_in_admin(client: httpx.AsyncClient, database_url: str, username: str) -> None:
    """Register `username` as a superuser and sign them in to the panel on `client`."""
    await register(client, username)
    await execute(
        database_url, "UPDATE users SET is_superuser = true WHERE username = :u", u=username
    )
    response = await admin_sign_in(client, username)
    assert response.status_code == 302, response.text
    assert response.headers["location"].endswith("/admin/")


async def user_id(database_url: str, username: str) -> int:
    rows = await query(database_url, "SELECT id FROM users WHERE username = :u", u=username)
    found: int = rows[0][0]
    return found
