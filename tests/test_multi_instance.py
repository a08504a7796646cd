"""Two `app serve` processes and one `app worker` behind nginx (round robin), on the run's
PostgreSQL database and Redis, as a scaled deployment runs them. Through nginx, the processes
share everything that must be shared: logins and logouts, rate limits, the response cache
(never stale after a write), the job queue, and changes of roles (applied at once by both).

nginx runs from deploy/nginx/local.conf.template as an ordinary foreground process with its
files in the test's directory; when it is not installed, `nginx_binary()` installs it (as root)
or fails saying how to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.database import make_superuser
from tests.helpers.deploy import fill_local_template, nginx_binary
from tests.helpers.features import installed, needs
from tests.helpers.http import API, bearer
from tests.helpers.processes import APP, Process, clean_env, free_port
from tests.helpers.settings import CACHE_WRITE_FENCE_SECONDS, PASSWORD, app_env

pytestmark = pytest.mark.slow

RATE_LIMIT = 6
STARTUP_SECONDS = 30.0


@dataclass
class Stack:
    """The processes of one deployment and their logs."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    proxy: str = ""

    def start(self, name: str, argv: list[str], env: dict[str, str], **options: Any) -> Process:
        process = Process(name, argv, cwd=self.workdir, env=env, **options)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            # One that cannot be stopped must not leave the others running.
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                process.stop(timeout=10)

    def logs(self, title: str = "") -> str:
        """For assertion messages: every log's tail, nginx's included."""
        parts = [title] if title else []
        files = [process.log_path for process in self.processes]
        files += [self.workdir / "nginx" / name for name in ("error.log", "access.log")]
        for path in files:
            text = path.read_text(errors="replace") if path.exists() else "(no file)"
            parts.append(f"----- {path.name} -----\n{text[-4000:]}")
        return "\n".join(parts)


def _app_env(database_url: str) -> dict[str, str]:
    return app_env(
        database_url,
        ENVIRONMENT="local",
        LOG_LEVEL="INFO",
        TRUSTED_PROXIES="127.0.0.1",
        SAMPLE_TASK_SLEEP_SECONDS=0.2,
        DEFAULT_RATE_LIMIT_LIMIT=RATE_LIMIT,
        DEFAULT_RATE_LIMIT_PERIOD=3600,
        LOGIN_RATE_LIMIT_LIMIT=1000,
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=1000,
        CACHE_WRITE_FENCE_SECONDS=CACHE_WRITE_FENCE_SECONDS,
    )


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    nginx = nginx_binary()  # before anything starts: installing may take a while
    stack = Stack(tmp_path)
    try:
        env = _app_env(database_url)
        servers = []
        for number in (1, 2):
            port = free_port()
            argv = [APP, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            servers.append(stack.start(f"serve-{number}", argv, env))
            stack.backends.append(f"http://127.0.0.1:{port}")
        worker = stack.start("worker", [APP, "worker"], env)
        for url, server in zip(stack.backends, servers, strict=True):
            server.wait_for_http(f"{url}/health", timeout=STARTUP_SECONDS)
        worker.wait_for_log("Starting worker", timeout=STARTUP_SECONDS)

        prefix = tmp_path / "nginx"
        prefix.mkdir()
        listen = free_port()
        upstream_ports = [int(url.rsplit(":", 1)[1]) for url in stack.backends]
        (prefix / "nginx.conf").write_text(fill_local_template(listen, upstream_ports))
        directives = "daemon off;"
        if os.geteuid() == 0:
            # As root, nginx workers would switch to `nobody`, who cannot enter pytest's
            # private temporary directory where the proxy's temporary files live.
            directives += " user root;"
        argv = [nginx, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log"]
        proxy = stack.start(
            "nginx", [*argv, "-g", directives], clean_env(), other_logs=[prefix / "error.log"]
        )
        stack.proxy = f"http://127.0.0.1:{listen}"
        proxy.wait_for_http(f"{stack.proxy}/health", timeout=STARTUP_SECONDS)
        yield stack
    finally:
        stack.stop()


def _instance(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    instance: str = response.json()["instance"]
    return instance


@needs("posts")
def test_two_processes_behind_nginx_share_auth_limits_cache_and_jobs(
    stack: Stack, database_url: str
) -> None:
    one, two = (httpx.Client(base_url=url, timeout=10) for url in stack.backends)
    proxy = httpx.Client(base_url=stack.proxy, timeout=10)
    try:
        _check(stack, one, two, proxy)
        _check_grants(stack, one, two, database_url)
    finally:
        for client in (one, two, proxy):
            client.close()


def _check(stack: Stack, one: httpx.Client, two: httpx.Client, proxy: httpx.Client) -> None:
    logs = stack.logs

    # The readiness probe agrees on each process, and through nginx.
    for client in (one, two, proxy):
        ready = client.get("/ready")
        assert ready.status_code == 200, logs(f"{client.base_url}/ready: {ready.text}")

    # (a) nginx sends requests to both processes, in turn.
    instances = {_instance(one.get("/health")), _instance(two.get("/health"))}
    assert len(instances) == 2, logs(f"the two processes report one instance: {instances}")
    seen = [_instance(proxy.get("/health")) for _ in range(6)]
    assert set(seen) == instances, logs(f"through nginx: {seen}, processes: {instances}")

    # An account, created and signed in through nginx.
    body = {
        "name": "Multi Tester",
        "username": "multi",
        "email": "multi@example.com",
        "password": PASSWORD,
    }
    created = proxy.post(f"{API}/user", json=body)
    assert created.status_code == 201, logs(created.text)

    def login() -> str:
        response = proxy.post(f"{API}/login", data={"username": "multi", "password": PASSWORD})
        assert response.status_code == 200, logs(response.text)
        token: str = response.json()["access_token"]
        return token

    token, doomed = login(), login()

    # (b) A token revoked through one process is refused by the other, and through nginx.
    for client in (one, two):
        me = client.get(f"{API}/user/me/", headers=bearer(doomed))
        assert me.status_code == 200, logs(me.text)
    out = one.post(f"{API}/logout", headers=bearer(doomed))
    assert out.status_code == 200, logs(out.text)
    refused = [two.get(f"{API}/user/me/", headers=bearer(doomed)).status_code]
    refused += [proxy.get(f"{API}/user/me/", headers=bearer(doomed)).status_code for _ in range(4)]
    assert refused == [401] * 5, logs(f"a revoked token was accepted: {refused}")
    me = proxy.get(f"{API}/user/me/", headers=bearer(token))
    assert me.status_code == 200, logs(f"the other token must still work: {me.text}")

    # (b2) A cookie-less client: refresh tokens in the body. Rotated on process two, the spent
    # token presented again to process one ends the session on both.
    signed_in = one.post(
        f"{API}/login?token_delivery=body", data={"username": "multi", "password": PASSWORD}
    )
    assert signed_in.status_code == 200, logs(signed_in.text)
    assert "set-cookie" not in signed_in.headers
    spent, access = signed_in.json()["refresh_token"], signed_in.json()["access_token"]
    rotated = two.post(f"{API}/refresh", json={"refresh_token": spent})
    assert rotated.status_code == 200, logs(rotated.text)
    newest = rotated.json()["refresh_token"]
    assert newest != spent
    reused = one.post(f"{API}/refresh", json={"refresh_token": spent})
    assert reused.status_code == 401, logs(reused.text)
    after = [
        two.post(f"{API}/refresh", json={"refresh_token": newest}).status_code,
        one.get(f"{API}/user/me/", headers=bearer(access)).status_code,
        two.get(f"{API}/user/me/", headers=bearer(rotated.json()["access_token"])).status_code,
    ]
    assert after == [401, 401, 401], logs(f"the family outlived the reuse: {after}")
    assert "refresh token reuse: session" in stack.processes[0].log(), logs()
    assert spent not in stack.processes[0].log()
    assert newest not in stack.processes[1].log()

    # (c) The default limit (of the tiers feature, while it is installed) counts across both
    # processes: exactly RATE_LIMIT posts pass.
    responses = [
        proxy.post(
            f"{API}/multi/post", json={"title": f"Post {i}", "text": "hi"}, headers=bearer(token)
        )
        for i in range(RATE_LIMIT + 3)
    ]
    codes = [response.status_code for response in responses]
    limited = [429] * 3 if installed("tiers") else [201] * 3
    assert codes == [201] * RATE_LIMIT + limited, logs(f"post statuses: {codes}")
    access = (stack.workdir / "nginx" / "access.log").read_text()
    upstreams = {
        line.split("upstream=", 1)[1].split()[0]
        for line in access.splitlines()
        if '"POST /api/v1/multi/post' in line
    }
    assert len(upstreams) == 2, logs(f"the posts did not reach both processes: {upstreams}")

    # (d) Cached on both processes, then changed through either: never served stale.
    post_id = responses[0].json()["id"]
    path = f"{API}/multi/post/{post_id}"
    for client in (one, two, one, two):
        got = client.get(path)
        assert got.status_code == 200, logs(got.text)
        assert got.json()["title"] == "Post 0", logs(got.text)
    for writer, title in ((one, "Changed once"), (two, "Changed twice")):
        patched = writer.patch(path, json={"title": title}, headers=bearer(token))
        assert patched.status_code == 200, logs(patched.text)
        titles = [client.get(path).json()["title"] for client in (two, one, two, one)]
        titles += [proxy.get(path).json()["title"] for _ in range(6)]
        assert titles == [title] * len(titles), logs(f"stale reads after a write: {titles}")

    # (e) A job enqueued through one process runs on the worker, and the other one reads it
    # (the sample job of the tasks feature, while it is installed).
    if not installed("tasks"):
        return
    enqueued = one.post(f"{API}/tasks/task", params={"message": "hello"}, headers=bearer(token))
    assert enqueued.status_code == 201, logs(enqueued.text)
    task_id = enqueued.json()["id"]
    deadline = time.monotonic() + 15
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen_by_two = two.get(f"{API}/tasks/task/{task_id}", headers=bearer(token))
        assert seen_by_two.status_code == 200, logs(seen_by_two.text)
        status = seen_by_two.json()
        if status["status"] == "complete":
            break
        time.sleep(0.1)
    assert status.get("status") == "complete", logs(f"the job did not complete: {status}")
    assert "hello" in str(status.get("result")), logs(f"unexpected result: {status}")
    through_nginx = proxy.get(f"{API}/tasks/task/{task_id}", headers=bearer(token))
    assert through_nginx.status_code == 200, logs(through_nginx.text)
    assert through_nginx.json()["status"] == "complete", logs(through_nginx.text)


def _check_grants(stack: Stack, one: httpx.Client, two: httpx.Client, database_url: str) -> None:
    """(f) A role given or changed through one process applies on the next request to the
    other, though that one had cached the user's permissions (each reads the grants version
    with the token)."""
    logs = stack.logs

    def sign_up(username: str) -> dict[str, str]:
        body = {
            "name": f"{username.title()} Tester",
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
        }
        created = one.post(f"{API}/user", json=body)
        assert created.status_code == 201, logs(created.text)
        if username == "boss":
            asyncio.run(make_superuser(database_url, username))
        response = one.post(f"{API}/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, logs(response.text)
        return bearer(response.json()["access_token"])

    admin, carol, dan = sign_up("boss"), sign_up("carol"), sign_up("dan")
    posts = []
    for n in range(2):
        posted = one.post(f"{API}/dan/post", json={"title": f"Dan {n}", "text": "x"}, headers=dan)
        assert posted.status_code == 201, logs(posted.text)
        posts.append(posted.json()["id"])

    def held(client: httpx.Client) -> list[str]:
        response = client.get(f"{API}/user/me/permissions", headers=carol)
        assert response.status_code == 200, logs(response.text)
        names: list[str] = response.json()["permissions"]
        return names

    assert held(one) == held(two) == []  # cached by both
    role = {"name": "moderator", "permissions": ["posts.delete_any"]}
    assert one.post(f"{API}/roles", json=role, headers=admin).status_code == 201, logs()
    given = one.put(f"{API}/user/carol/roles", json={"roles": ["moderator"]}, headers=admin)
    assert given.status_code == 200, logs(given.text)
    assert held(two) == ["posts.delete_any"], logs()
    deleted = two.delete(f"{API}/dan/post/{posts[0]}", headers=carol)
    assert deleted.status_code == 204, logs(deleted.text)

    changed = two.patch(f"{API}/roles/moderator", json={"permissions": []}, headers=admin)
    assert changed.status_code == 200, logs(changed.text)
    refused = one.delete(f"{API}/dan/post/{posts[1]}", headers=carol)
    assert refused.status_code == 403, logs(refused.text)
    assert held(one) == held(two) == [], logs()
