"""The embedded default, as a new user runs it: no configuration at all, `app migrate` then
`app serve` on a SQLite file, and the whole account flow over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.processes import APP, Process, clean_env, free_port, run_app

pytestmark = pytest.mark.slow  # a server process (`make test-embedded` runs it alone)

PASSWORD = "embedded-pass-1"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("embedded")
    env = clean_env(SAMPLE_TASK_SLEEP_SECONDS=0.2)
    migrated = run_app("migrate", cwd=workdir, env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Process("serve", [APP, "serve", "--port", str(port)], cwd=workdir, env=env) as server:
        server.wait_for_http(f"{url}/openapi.json")
        assert (workdir / "app.db").exists()
        yield url
        server.stop(timeout=15)
    startup = server.log()
    assert "embedded backends in use" in startup
    assert PASSWORD not in startup


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


def test_posts_cache_and_rate_limits(base_url: str) -> None:
    with httpx.Client(base_url=f"{base_url}/api/v1") as client:
        body = {"name": "Poster", "username": "poster", "email": "p@example.com"}
        assert client.post("/user", json={**body, "password": PASSWORD}).status_code == 201
        login = client.post("/login", data={"username": "poster", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        # The default limit (10 per hour) applies to a user without a tier, counted in memory.
        statuses = [
            client.post("/poster/post", json={"title": f"Post {i}", "text": "x"}, headers=auth)
            for i in range(11)
        ]
        assert [r.status_code for r in statuses] == [201] * 10 + [429]
        assert statuses[0].headers["x-ratelimit-limit"] == "10"
        assert int(statuses[-1].headers["retry-after"]) >= 1

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


def test_a_job_runs_in_process(base_url: str) -> None:
    with httpx.Client(base_url=f"{base_url}/api/v1") as client:
        created = client.post("/tasks/task", params={"message": "embedded"})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        deadline = time.monotonic() + 20
        while (body := client.get(f"/tasks/task/{task_id}").json())["status"] != "complete":
            assert body["status"] in ("queued", "in_progress"), body
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert body["success"] is True
        assert body["result"] == f"task {task_id} is complete: embedded"
        assert client.get("/tasks/task/unknown").status_code == 404
