"""Rate limits over HTTP: the login limits per IP and per account, and which client IP is
counted. The per-path limits are the tiers feature's (tests/tiers/test_rate_limits.py)."""

from __future__ import annotations

import httpx

from tests.helpers.http import API, AppClientFactory, Headers, client_for, register
from tests.helpers.settings import PASSWORD


async def attempt(
    client: httpx.AsyncClient,
    username: str,
    password: str = PASSWORD,
    headers: Headers | None = None,
) -> httpx.Response:
    return await client.post(
        f"{API}/login", data={"username": username, "password": password}, headers=headers
    )


def assert_limited(response: httpx.Response, limit: int, period: int) -> None:
    assert response.status_code == 429, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "rate limit" in detail.lower()
    assert 1 <= int(response.headers["Retry-After"]) <= period
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= period


# --- login ----------------------------------------------------------------------------------


async def test_login_attempts_are_limited_per_ip_across_accounts(
    app_client: AppClientFactory,
) -> None:
    async with app_client(LOGIN_RATE_LIMIT_LIMIT=3, LOGIN_RATE_LIMIT_PERIOD=60) as setup:
        await register(setup, "alice")
        await register(setup, "bob")
        async with (
            client_for(setup.app, peer=("198.51.100.1", 1234)) as client,
            client_for(setup.app, peer=("198.51.100.2", 1234)) as elsewhere,
        ):
            assert (await attempt(client, "alice")).status_code == 200
            assert (await attempt(client, "alice", "wrong-pass-1")).status_code == 401
            assert (await attempt(client, "bob")).status_code == 200
            assert_limited(await attempt(client, "bob"), limit=3, period=60)
            assert_limited(await attempt(client, "alice"), limit=3, period=60)
            assert_limited(await attempt(client, "nobody", "wrong-pass-1"), limit=3, period=60)

            # another address is not affected
            assert (await attempt(elsewhere, "bob")).status_code == 200


async def test_login_attempts_are_limited_per_account(app_client: AppClientFactory) -> None:
    async with app_client(
        LOGIN_RATE_LIMIT_LIMIT=1000,
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=2,
        LOGIN_ACCOUNT_RATE_LIMIT_PERIOD=300,
    ) as setup:
        await register(setup, "alice")
        await register(setup, "bob")
        async with (
            client_for(setup.app, peer=("198.51.100.1", 1234)) as client,
            client_for(setup.app, peer=("198.51.100.2", 1234)) as elsewhere,
        ):
            assert (await attempt(client, "alice", "wrong-pass-1")).status_code == 401
            assert (await attempt(client, "ALICE", "wrong-pass-2")).status_code == 401
            # the right password does not help, nor another case, nor another address
            assert_limited(await attempt(client, "Alice"), limit=2, period=300)
            assert_limited(await attempt(client, "alice"), limit=2, period=300)
            assert_limited(await attempt(elsewhere, " alice "), limit=2, period=300)

            # Failed attempts are what an account's budget counts: successful logins are
            # never refused, however many...
            for source in (client, elsewhere, client, client):
                assert (await attempt(source, "bob")).status_code == 200
            # ...and a success starts the count of failures afresh.
            assert (await attempt(client, "bob", "wrong-pass-1")).status_code == 401
            assert (await attempt(client, "bob")).status_code == 200
            assert (await attempt(client, "bob", "wrong-pass-2")).status_code == 401
            assert (await attempt(elsewhere, "bob", "wrong-pass-3")).status_code == 401
            assert_limited(await attempt(client, "bob"), limit=2, period=300)


async def test_the_email_and_the_username_share_one_account_budget(
    app_client: AppClientFactory,
) -> None:
    """One account, one budget: signing in by email is another spelling of the same account."""
    async with app_client(
        LOGIN_RATE_LIMIT_LIMIT=1000,
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=2,
        LOGIN_ACCOUNT_RATE_LIMIT_PERIOD=300,
    ) as client:
        await register(client, "alice")
        assert (await attempt(client, "alice", "wrong-pass-1")).status_code == 401
        assert (await attempt(client, "alice@example.com", "wrong-pass-2")).status_code == 401
        assert_limited(await attempt(client, "ALICE@example.com"), limit=2, period=300)
        assert_limited(await attempt(client, "alice"), limit=2, period=300)


# --- which client IP is counted --------------------------------------------------------------


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    app_client: AppClientFactory,
) -> None:
    async with (
        app_client(LOGIN_RATE_LIMIT_LIMIT=2) as base,
        client_for(base.app, peer=("10.0.0.1", 1234)) as proxy,
    ):
        for forged in ("1.1.1.1", "2.2.2.2"):
            response = await attempt(proxy, "nobody", headers={"X-Forwarded-For": forged})
            assert response.status_code == 401
        response = await attempt(proxy, "nobody", headers={"X-Forwarded-For": "3.3.3.3"})
        assert_limited(response, limit=2, period=60)
        assert_limited(await attempt(proxy, "nobody"), limit=2, period=60)


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    app_client: AppClientFactory,
) -> None:
    async with (
        app_client(LOGIN_RATE_LIMIT_LIMIT=2, TRUSTED_PROXIES=["10.0.0.1"]) as base,
        client_for(base.app, peer=("10.0.0.1", 1234)) as proxy,
        client_for(base.app, peer=("10.0.0.2", 1234)) as untrusted,
    ):
        first = {"X-Forwarded-For": "1.1.1.1"}
        second = {"X-Forwarded-For": "2.2.2.2"}
        for _ in range(2):
            assert (await attempt(proxy, "nobody", headers=first)).status_code == 401
        assert_limited(await attempt(proxy, "nobody", headers=first), limit=2, period=60)

        # another forwarded client, and the proxy's own requests, have budgets of their own
        for _ in range(2):
            assert (await attempt(proxy, "nobody", headers=second)).status_code == 401
        assert_limited(await attempt(proxy, "nobody", headers=second), limit=2, period=60)
        assert (await attempt(proxy, "nobody")).status_code == 401

        # a peer that is not a trusted proxy cannot borrow a forwarded address
        fresh = {"X-Forwarded-For": "4.4.4.4"}
        for _ in range(2):
            assert (await attempt(untrusted, "nobody", headers=fresh)).status_code == 401
        spoofed = {"X-Forwarded-For": "5.5.5.5"}
        assert_limited(await attempt(untrusted, "nobody", headers=spoofed), limit=2, period=60)
        assert (await attempt(proxy, "nobody", headers=fresh)).status_code == 401
