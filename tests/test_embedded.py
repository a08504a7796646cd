"""The embedded default, as a new user runs it: no configuration at all, `app migrate` then
`app serve` on a SQLite file, and the whole account flow over real HTTP, mail included (the
console backend: each message, link and all, in the server's log; skipped without the account
flows)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers.features import installed, needs
from tests.helpers.processes import APP, Process, clean_env, free_port, run_app

# A server process (`make test-embedded` runs it alone). One worker runs the whole module: its
# tests share what a module fixture starts.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("embedded")]

PASSWORD = "embedded-pass-1"
NEW_PASSWORD = "embedded-pass-2"
# The default PUBLIC_BASE_URL: the links point at the server a developer runs.
LINK_BASE = "http://localhost:8000"


@dataclass(frozen=True)
class Server:
    url: str
    process: Process

    def mail_link(self, to: str, subject: str, count: int = 1) -> str:
        """The link of the `count`-th message to `to` with `subject`, once the console mail
        backend has logged it (the jobs run in the server's process, after the request)."""
        header = f"mail to {to}, subject {subject!r} (MAIL_BACKEND=console, not sent):"

        def logged() -> list[str]:
            return self.process.log().split(header)[1:]

        self.process.wait_until(
            lambda: len(logged()) >= count, f"{count} mail(s) to {to} in the log", timeout=20
        )
        body = logged()[count - 1]
        found = re.search(r"https?://\S+\?token=[A-Za-z0-9_\-]+", body)
        assert found, body
        return found.group(0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("embedded")
    # LOG_LEVEL=INFO (the default, said out loud): the console mail backend logs at INFO.
    env = clean_env(LOG_LEVEL="INFO")
    migrated = run_app("migrate", cwd=workdir, env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Process("serve", [APP, "serve", "--port", str(port)], cwd=workdir, env=env) as process:
        process.wait_for_http(f"{url}/openapi.json")
        assert (workdir / "app.db").exists()
        yield Server(url, process)
        process.stop(timeout=15)
    log = process.log()
    assert "embedded backends in use" in log
    assert PASSWORD not in log
    assert NEW_PASSWORD not in log
    assert "Traceback" not in log, log
    assert not (workdir / "mail").exists()  # the console backend writes no files


@pytest.fixture(scope="module")
def base_url(server: Server) -> str:
    return server.url


def test_docs_are_served(base_url: str) -> None:
    response = httpx.get(f"{base_url}/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_register_login_me_refresh_logout(base_url: str) -> None:
    with httpx.Client(base_url=f"{base_url}/api/v1") as client:
        created = client.post(
            "/user",
            json={
                "name": "Emb User",
                "username": "emb",
                "email": "e@example.com",
                "password": PASSWORD,
            },
        )
        assert created.status_code == 201, created.text

        login = client.post("/login", data={"username": "emb", "password": PASSWORD})
        assert login.status_code == 200
        access = login.json()["access_token"]
        first_cookie = client.cookies["refresh_token"]

        me = client.get("/user/me/", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200
        assert me.json()["email"] == "e@example.com"

        refreshed = client.post("/refresh")
        assert refreshed.status_code == 200
        new_access = refreshed.json()["access_token"]
        assert client.cookies["refresh_token"] != first_cookie

        out = client.post("/logout", headers={"Authorization": f"Bearer {new_access}"})
        assert out.status_code == 200
        assert "refresh_token" not in client.cookies

        after = client.get("/user/me/", headers={"Authorization": f"Bearer {new_access}"})
        assert after.status_code == 401
    with httpx.Client(base_url=f"{base_url}/api/v1") as replayer:
        replay = replayer.post("/refresh", headers={"Cookie": f"refresh_token={first_cookie}"})
        assert replay.status_code == 401


@needs("posts")
def test_posts_cache_and_rate_limits(base_url: str) -> None:
    with httpx.Client(base_url=f"{base_url}/api/v1") as client:
        body = {"name": "Poster", "username": "poster", "email": "p@example.com"}
        assert client.post("/user", json={**body, "password": PASSWORD}).status_code == 201
        login = client.post("/login", data={"username": "poster", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        statuses = [
            client.post("/poster/post", json={"title": f"Post {i}", "text": "x"}, headers=auth)
            for i in range(10)
        ]
        assert [r.status_code for r in statuses] == [201] * 10
        if installed("tiers"):
            # The default limit (10 per hour) applies to a user without a tier, counted in
            # memory.
            assert statuses[0].headers["x-ratelimit-limit"] == "10"
            refused = client.post("/poster/post", json={"title": "One more"}, headers=auth)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1

        page = client.get("/poster/posts", params={"items_per_page": 4})
        assert page.status_code == 200
        assert page.json()["total_count"] == 10
        assert page.headers["cache-control"].startswith("public")

        first = client.get("/poster/posts", params={"limit": 4}).json()
        second = client.get("/poster/posts", params={"limit": 4, "cursor": first["next_cursor"]})
        ids = [p["id"] for p in first["data"] + second.json()["data"]]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == 8

        post_id = ids[0]
        assert client.get(f"/poster/post/{post_id}").json()["title"] == "Post 9"
        edited = client.patch(f"/poster/post/{post_id}", json={"title": "Edited"}, headers=auth)
        assert edited.status_code == 200
        assert client.get(f"/poster/post/{post_id}").json()["title"] == "Edited"


@needs("accounts", "mail")
def test_registration_mail_link_verifies_the_address(server: Server) -> None:
    with httpx.Client(base_url=f"{server.url}/api/v1") as client:
        body = {"name": "Vera <b>&", "username": "vera", "email": "Vera@Example.com"}
        created = client.post("/user", json={**body, "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert created.json()["email_verified"] is False

        link = server.mail_link("vera@example.com", "Confirm your email address for API starter")
        assert link.startswith(f"{LINK_BASE}/verify-email?token="), link
        token = link.partition("?token=")[2]
        verified = client.post("/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text
        assert verified.json() == {"message": "vera@example.com is verified"}

        login = client.post("/login", data={"username": "vera", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        me = client.get("/user/me/", headers=auth).json()
        assert me["email_verified"] is True
        assert me["pending_email"] is None

        again = client.post("/verify-email", json={"token": token})
        assert again.status_code == 400
        assert again.json() == {"detail": "Invalid, expired or already used link"}


@needs("accounts", "mail")
def test_password_reset_by_the_logged_link(server: Server) -> None:
    with httpx.Client(base_url=f"{server.url}/api/v1") as client:
        body = {"name": "Rita", "username": "rita", "email": "rita@example.com"}
        assert client.post("/user", json={**body, "password": PASSWORD}).status_code == 201
        login = client.post("/login", data={"username": "rita", "password": PASSWORD})
        assert login.status_code == 200
        old_auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        asked = client.post("/password-reset", json={"email": "rita@example.com"})
        assert asked.status_code == 202, asked.text
        unknown = client.post("/password-reset", json={"email": "nobody@example.com"})
        assert (unknown.status_code, unknown.json()) == (asked.status_code, asked.json())

        link = server.mail_link("rita@example.com", "Reset your API starter password")
        assert link.startswith(f"{LINK_BASE}/reset-password?token="), link
        token = link.partition("?token=")[2]
        confirmed = client.post(
            "/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert confirmed.status_code == 200, confirmed.text

        old = client.post("/login", data={"username": "rita", "password": PASSWORD})
        assert old.status_code == 401
        new = client.post("/login", data={"username": "rita", "password": NEW_PASSWORD})
        assert new.status_code == 200, new.text
        # The reset ended the sessions started with the old password.
        assert client.get("/user/me/", headers=old_auth).status_code == 401
        reused = client.post(
            "/password-reset/confirm", json={"token": token, "new_password": "third-pass-3"}
        )
        assert reused.status_code == 400
    # Nobody has the unknown address: nothing was logged for it.
    assert "mail to nobody@example.com" not in server.process.log()
