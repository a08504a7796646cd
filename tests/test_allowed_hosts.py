"""The Host allow-list: outside local, a request naming a host that is not on ALLOWED_HOSTS is
refused before anything else runs (a forged Host cannot reach a redirect or a link)."""

from __future__ import annotations

import pytest

from tests.helpers.features import needs
from tests.helpers.http import AppClientFactory

# What staging requires, mail off so that no SMTP server is needed.
STAGING = {
    "ENVIRONMENT": "staging",
    "ADMIN_PASSWORD": "Another-admin-pass-9",
    "EMAIL_VERIFICATION_ENABLED": False,
    "PASSWORD_RESET_ENABLED": False,
}


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("api.example.com", 200),
        ("API.Example.com:8443", 200),
        ("eu.apps.example.org", 200),
        ("[::1]:8000", 200),
        ("evil.example.net", 400),
        ("api.example.com.evil.net", 400),
        ("example.org", 400),
        ("xapi.example.com", 400),
        ("", 400),
    ],
)
async def test_only_allowed_hosts_are_served(
    app_client: AppClientFactory, host: str, status: int
) -> None:
    allowed = "api.example.com,*.example.org,[::1]"
    async with app_client(**STAGING, ALLOWED_HOSTS=allowed) as client:
        response = await client.get("/api/v1/users", headers={"Host": host})
        assert response.status_code == status, response.text
        if status == 400:
            assert response.json() == {"detail": "Invalid host header"}


async def test_probes_and_local_use_need_no_allowed_host(
    app_client: AppClientFactory,
) -> None:
    async with app_client(**STAGING, ALLOWED_HOSTS="api.example.com") as client:
        assert (await client.get("/health", headers={"Host": "10.0.0.7:8000"})).status_code == 200
    async with app_client(ALLOWED_HOSTS="api.example.com") as client:  # local
        response = await client.get("/api/v1/users", headers={"Host": "anything.test"})
        assert response.status_code == 200
    async with app_client(**STAGING, ALLOWED_HOSTS="*") as client:
        response = await client.get("/api/v1/users", headers={"Host": "anything.test"})
        assert response.status_code == 200


@needs("admin")
async def test_the_admin_redirect_names_no_forged_host(app_client: AppClientFactory) -> None:
    async with app_client(**STAGING, ALLOWED_HOSTS="api.example.com") as client:
        forged = await client.get("/admin", headers={"Host": "evil.example.net"})
        assert forged.status_code == 400
        assert "evil" not in forged.headers.get("location", "")
        served = await client.get("/admin", headers={"Host": "api.example.com"})
        assert served.status_code in (302, 303, 307), served.text
        assert served.headers["location"].startswith("http://api.example.com/admin")


async def test_a_forged_host_is_refused_on_every_method(app_client: AppClientFactory) -> None:
    async with app_client(**STAGING, ALLOWED_HOSTS="api.example.com") as client:
        for method in ("POST", "PATCH", "DELETE"):
            response = await client.request(method, "/api/v1/user", headers={"Host": "x.test"})
            assert response.status_code == 400, (method, response.text)
