"""The Docker Compose stack, for real: the image is built and README's compose sequence runs
on a Docker engine, the way a user runs it.

The project's files are copied to a temporary directory with a `.env` made from
`.env.example` and the values README tells the user to set (ENVIRONMENT, SECRET_KEY,
ADMIN_PASSWORD, POSTGRES_PASSWORD), plus free host ports, an image tag of the test's own, and
two worker settings that make the worker-restart step short. The project name is the test's
own, so a developer's stack and images are left alone.

The tests below run in order on one stack: up, health, the account flow, a job, the `setup`
one-shots, the image's permissions, a worker restart, nginx, a crashed web container, down
and up again, three web containers behind nginx, down -v.

It needs `docker` on PATH with an engine that answers (Compose v2, BuildKit). Without one it
is skipped, in one line, outside CI; in CI (CI=true) it fails: `.ci/run` starts one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.helpers.deploy import require_docker_engine
from tests.helpers.features import installed, needs
from tests.helpers.http import API, bearer
from tests.helpers.processes import free_port
from tests.helpers.settings import PASSWORD

# One worker runs the whole module: its tests share what a module fixture starts.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]

ROOT = Path(__file__).resolve().parents[2]
# What the image and the compose file need, as a fresh clone has them.
PROJECT_FILES = (
    "Dockerfile",
    ".dockerignore",
    "docker-compose.yml",
    ".env.example",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "src",
    "deploy",
)
NGINX_ADDRESS = "172.28.0.10"  # docker-compose.yml: nginx's fixed address, TRUSTED_PROXIES
ADMIN_PASSWORD = "Compose-admin-pass-1"
SCALE = ("-f", "docker-compose.yml", "-f", "deploy/compose.scale.yml")
BUILD_AND_UP_SECONDS = 900
UP_SECONDS = 240
JOBS = 8  # the default tier allows 10 an hour; one is used before

T = TypeVar("T")


require_docker_engine("the compose test")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, logs: Callable[[], str]
) -> T:
    """Call `probe` until it returns something other than None (connection errors count as
    None); fail with `what` and the stack's logs after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.HTTPError as exc:
            value, last = None, exc
        if value is not None:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s (last error: {last!r})\n{logs()}")


@dataclass
class Stack:
    """One compose project in its own directory, and what the steps hand on to each other."""

    workdir: Path
    project: str
    image: str
    web_port: int
    nginx_port: int
    env: dict[str, str]
    state: dict[str, Any] = field(default_factory=dict)

    def compose(
        self, *args: str, timeout: float = UP_SECONDS, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", "compose", *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`docker compose {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}"
            )
        return result

    def docker(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, env=self.env
        )
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def logs(self, *services: str, tail: int = 60) -> str:
        argv = ["docker", "compose", "--profile", "*", "logs", "--no-color", "--tail", str(tail)]
        result = subprocess.run(
            [*argv, *services],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return f"----- docker compose logs -----\n{result.stdout[-12000:]}{result.stderr[-2000:]}"

    def containers(self, service: str) -> list[str]:
        ids = self.compose("--profile", "*", "ps", "-q", service).stdout.split()
        return sorted(ids)

    def started(self, *services: str) -> dict[str, str]:
        """Each running container of `services` and when it started: unchanged across a
        command means the command neither recreated nor restarted it."""
        return {
            container: self.docker("inspect", "-f", "{{.State.StartedAt}}", container)
            for service in services
            for container in self.containers(service)
        }

    def address(self, container: str) -> str:
        return self.docker(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
        )

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def nginx(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def wait_healthy(self, base: str, timeout: float = UP_SECONDS) -> None:
        def ok() -> bool | None:
            return True if httpx.get(f"{base}/health", timeout=5).status_code == 200 else None

        wait_for(f"{base}/health did not answer 200", ok, timeout, self.logs)


def env_file_from_example(values: dict[str, str]) -> str:
    """`.env.example` with `values` set, each on the line that documents it."""
    text = (ROOT / ".env.example").read_text()
    for name, value in values.items():
        text, count = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", text)
        assert count == 1, f".env.example must document {name} exactly once"
    return text


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("compose")
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(source, workdir / name, ignore=ignore)
        else:
            shutil.copy2(source, workdir / name)
    suffix = uuid.uuid4().hex[:8]
    stack = Stack(
        workdir=workdir,
        project=f"apistarter-test-{suffix}",
        image=f"api-starter:test-{suffix}",
        web_port=free_port(),
        nginx_port=free_port(),
        # COMPOSE_PROJECT_NAME wins over the file's `name:`, so README's commands run as
        # written without touching a stack of the same machine.
        env={**os.environ, "COMPOSE_PROJECT_NAME": f"apistarter-test-{suffix}"},
    )
    (workdir / ".env").write_text(
        env_file_from_example(
            {
                "ENVIRONMENT": "production",
                "SECRET_KEY": secrets.token_hex(32),
                "ADMIN_PASSWORD": ADMIN_PASSWORD,
                "POSTGRES_PASSWORD": secrets.token_hex(12),
                # The test reaches each web container by its address as well as through
                # nginx and the published port; the Host check has tests of its own.
                "ALLOWED_HOSTS": "*",
                # No SMTP server runs in this stack: the features that mail users are off,
                # as README says to do without one.
                "EMAIL_VERIFICATION_ENABLED": "false",
                "PASSWORD_RESET_ENABLED": "false",
                "WEB_PORT": str(stack.web_port),
                "NGINX_PORT": str(stack.nginx_port),
                "APP_IMAGE": stack.image,
                # Two jobs at a time, two seconds each: a worker restart finds jobs queued.
                "WORKER_MAX_JOBS": "2",
                "SAMPLE_TASK_SLEEP_SECONDS": "2",
            }
        )
    )
    try:
        stack.compose("up", "-d", "--build", "--wait", timeout=BUILD_AND_UP_SECONDS)
        yield stack
    finally:
        stack.compose(*SCALE, "--profile", "*", "down", "-v", "--remove-orphans", check=False)
        subprocess.run(["docker", "rmi", "-f", stack.image], capture_output=True, timeout=120)


# --- helpers over HTTP ------------------------------------------------------------------------


def login(base: str, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """(access token, refresh token). Outside `local` the refresh cookie is Secure, so a
    client on plain HTTP sends it back by hand."""
    response = httpx.post(
        f"{base}{API}/login", data={"username": username, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"], response.cookies["refresh_token"]


def register(base: str, username: str) -> None:
    body = {
        "name": username.title(),
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
    }
    response = httpx.post(f"{base}{API}/user", json=body, timeout=30)
    assert response.status_code == 201, response.text


def refresh_cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"refresh_token={token}"}


def me(base: str, access: str) -> httpx.Response:
    return httpx.get(f"{base}{API}/user/me/", headers=bearer(access), timeout=30)


def enqueue(base: str, access: str, message: str) -> str:
    response = httpx.post(
        f"{base}{API}/tasks/task", params={"message": message}, headers=bearer(access), timeout=30
    )
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def task(base: str, access: str, task_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base}{API}/tasks/task/{task_id}", headers=bearer(access), timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def access_log_client(stack: Stack, request_id: str) -> str:
    """The client address that web's access log gives for the request `request_id`."""

    def find() -> str | None:
        for line in stack.compose("logs", "--no-color", "web").stdout.splitlines():
            if f"[{request_id}]" in line and "app.access" in line:
                return line.rsplit(" from ", 1)[1].strip()
        return None

    return wait_for(f"no access log line for {request_id}", find, 20, stack.logs)


# Run inside a container: one login attempt through nginx, from that container's address.
LOGIN_FROM_INSIDE = """
import sys, urllib.error, urllib.request
request = urllib.request.Request(
    "http://nginx/api/v1/login",
    data=b"username=nobody-inside&password=wrong-password-1",
    headers={"Content-Type": "application/x-www-form-urlencoded", "X-Request-ID": sys.argv[1]},
)
try:
    print(urllib.request.urlopen(request, timeout=20).status)
except urllib.error.HTTPError as error:
    print(error.code)
"""


# --- the steps, in order ----------------------------------------------------------------------


def test_up_builds_the_image_and_every_service_is_healthy(stack: Stack) -> None:
    rows = [
        json.loads(line)
        for line in stack.compose("ps", "-a", "--format", "json").stdout.splitlines()
        if line.strip()
    ]
    state = {row["Service"]: (row["State"], row.get("Health", ""), row["ExitCode"]) for row in rows}
    for service in ("web", "worker", "db", "redis"):
        assert state.get(service, ("missing",))[:2] == ("running", "healthy"), state
    assert state.get("migrate") == ("exited", "", 0), state
    assert "database migrated to head" in stack.compose("logs", "migrate").stdout
    # One image for every app service, tagged as APP_IMAGE says.
    images = {
        stack.docker("inspect", "-f", "{{.Config.Image}}", container)
        for service in ("web", "worker", "migrate")
        for container in stack.containers(service)
    }
    assert images == {stack.image}, images


def test_health_ready_and_no_docs_in_production(stack: Stack) -> None:
    assert httpx.get(f"{stack.web}/health").status_code == 200
    ready = httpx.get(f"{stack.web}/ready")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"].values()) == {"ok"}, ready.text
    assert httpx.get(f"{stack.web}/docs").status_code == 404


def test_register_login_me_refresh_logout(stack: Stack) -> None:
    base = stack.web
    register(base, "alice")
    access, refresh = login(base, "alice")
    assert me(base, access).json()["username"] == "alice"

    renewed = httpx.post(f"{base}{API}/refresh", headers=refresh_cookie(refresh))
    assert renewed.status_code == 200, renewed.text
    access, spent = renewed.json()["access_token"], refresh
    refresh = renewed.cookies["refresh_token"]
    assert me(base, access).status_code == 200
    again = httpx.post(f"{base}{API}/refresh", headers=refresh_cookie(spent))
    assert again.status_code == 401, "a spent refresh token was accepted"
    # Reuse detection: the spent token presented again ended its session, newest tokens too.
    assert me(base, access).status_code == 401
    reused = httpx.post(f"{base}{API}/refresh", headers=refresh_cookie(refresh))
    assert reused.status_code == 401

    access, refresh = login(base, "alice")
    out = httpx.post(f"{base}{API}/logout", headers={**bearer(access), **refresh_cookie(refresh)})
    assert out.status_code == 200, out.text
    assert me(base, access).status_code == 401
    after = httpx.post(f"{base}{API}/refresh", headers=refresh_cookie(refresh))
    assert after.status_code == 401

    # Kept for later steps: a session that outlives restarts, and one to revoke at scale.
    stack.state["access"], _ = login(base, "alice")
    stack.state["doomed"] = login(base, "alice")
    post = httpx.post(
        f"{base}{API}/alice/post",
        json={"title": "Kept", "text": "in the named volume"},
        headers=bearer(stack.state["access"]),
    )
    assert post.status_code == 201, post.text
    stack.state["post"] = post.json()["id"]


@needs("tasks")
def test_a_job_from_the_api_completes_in_the_worker_container(stack: Stack) -> None:
    access = stack.state["access"]
    task_id = enqueue(stack.web, access, "through the worker")

    def done() -> dict[str, Any] | None:
        status = task(stack.web, access, task_id)
        return status if status["status"] == "complete" else None

    status = wait_for("the job did not complete", done, 60, stack.logs)
    assert status["success"] is True, status
    assert "through the worker" in str(status["result"]), status
    assert task_id in stack.compose("logs", "--no-color", "worker").stdout
    stack.state["job"] = task_id


def test_setup_profile_one_shots(stack: Stack) -> None:
    running = stack.started("web", "worker", "db", "redis")
    created = stack.compose("--profile", "setup", "run", "--rm", "create-superuser")
    assert "superuser 'admin' created" in created.stdout, created.stdout + created.stderr
    again = stack.compose("--profile", "setup", "run", "--rm", "create-superuser")
    assert "nothing to do" in again.stdout
    assert ADMIN_PASSWORD not in created.stdout + created.stderr + again.stdout + again.stderr
    tier = stack.compose("--profile", "setup", "run", "--rm", "create-tier")
    assert "tier 'free' created" in tier.stdout, tier.stdout + tier.stderr

    admin, _ = login(stack.web, "admin", ADMIN_PASSWORD)
    assert me(stack.web, admin).json()["is_superuser"] is True
    assert httpx.get(f"{stack.web}{API}/tier/free").status_code == 200
    # A one-shot leaves no container behind (--rm), and the services kept running untouched.
    assert stack.containers("create-superuser") == []
    assert stack.started("web", "worker", "db", "redis") == running
    assert httpx.get(f"{stack.web}/health").status_code == 200


def test_the_image_runs_as_non_root_and_cannot_write_its_code(stack: Stack) -> None:
    for service in ("web", "worker"):
        uid = stack.compose("exec", "-T", service, "id", "-u").stdout.strip()
        assert uid not in ("", "0"), f"{service} runs as root"
        for target in ("/app/src/app/written", "/app/.venv/bin/written", "/app/written"):
            attempt = stack.compose("exec", "-T", service, "touch", target, check=False)
            assert attempt.returncode != 0, f"{service} could write {target}"
        scratch = stack.compose("exec", "-T", service, "touch", "/tmp/written", check=False)  # noqa: S108
        assert scratch.returncode == 0, f"{service} has no writable /tmp: {scratch.stderr}"


@needs("tasks")
def test_restarting_the_worker_loses_no_queued_job(stack: Stack) -> None:
    access = stack.state["access"]
    ids = [enqueue(stack.web, access, f"restart {n}") for n in range(JOBS)]
    # Two run at a time for two seconds each: most are still queued when the worker stops.
    before = [task(stack.web, access, task_id)["status"] for task_id in ids]
    assert before.count("complete") < JOBS - 2, before
    stack.compose("restart", "worker", timeout=120)

    def all_done() -> list[dict[str, Any]] | None:
        statuses = [task(stack.web, access, task_id) for task_id in ids]
        return statuses if all(s["status"] == "complete" for s in statuses) else None

    statuses = wait_for("queued jobs were lost in a worker restart", all_done, 120, stack.logs)
    assert all(s["success"] is True for s in statuses), statuses
    stack.wait_healthy(stack.web)


def test_nginx_profile_passes_the_real_client_address(stack: Stack) -> None:
    running = stack.started("web", "worker", "db", "redis")
    stack.compose("--profile", "nginx", "up", "-d", "--wait")
    assert stack.started("web", "worker", "db", "redis") == running, "a service was recreated"
    assert httpx.get(f"{stack.nginx}/health").status_code == 200
    ready = httpx.get(f"{stack.nginx}/ready")
    assert ready.status_code == 200, ready.text
    assert me(stack.nginx, stack.state["access"]).status_code == 200

    # This machine's address, as web sees it through nginx, is not nginx's.
    request_id = f"host-{uuid.uuid4().hex[:12]}"
    httpx.get(f"{stack.nginx}/health", headers={"X-Request-ID": request_id})
    host_address = access_log_client(stack, request_id)
    assert host_address != NGINX_ADDRESS, "web sees nginx's address, not the client's"

    # The per-IP login limit is spent by this machine alone ...
    statuses = []
    for attempt in range(40):
        response = httpx.post(
            f"{stack.nginx}{API}/login",
            data={"username": f"nobody-{attempt}", "password": "wrong-password-1"},
            timeout=30,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, f"the login limit never applied: {statuses}"

    # ... so another client, here the worker container, still gets its own answer.
    worker = stack.containers("worker")[0]
    request_id = f"inside-{uuid.uuid4().hex[:12]}"
    inside = stack.compose(
        "exec", "-T", "worker", "python", "-c", LOGIN_FROM_INSIDE, request_id
    ).stdout.strip()
    assert inside == "401", f"another client was refused with {inside} (limited as nginx?)"
    assert access_log_client(stack, request_id) == stack.address(worker)


def test_a_crashed_web_container_is_restarted(stack: Stack) -> None:
    # `docker kill` is a manual stop for Docker, which then never restarts the container
    # (whatever its restart policy). A crash is the container's process dying on its own:
    # killed here from the host with SIGKILL, as the kernel's OOM killer would.
    (container,) = stack.containers("web")
    pid = int(stack.docker("inspect", "-f", "{{.State.Pid}}", container))
    os.kill(pid, signal.SIGKILL)

    def restarted() -> int | None:
        count = int(stack.docker("inspect", "-f", "{{.RestartCount}}", container))
        return count if count >= 1 else None

    wait_for("web was not restarted", restarted, 60, stack.logs)
    stack.wait_healthy(stack.web)
    assert me(stack.web, stack.state["access"]).status_code == 200


def test_down_then_up_keeps_the_data(stack: Stack) -> None:
    stack.compose("--profile", "*", "down", timeout=180)
    assert stack.containers("web") == []
    stack.compose("up", "-d", "--wait", timeout=UP_SECONDS)

    # The account and its session (PostgreSQL's volume), the post, and the finished job's
    # result (Redis's append-only file in its volume).
    assert me(stack.web, stack.state["access"]).status_code == 200
    post = httpx.get(f"{stack.web}{API}/alice/post/{stack.state['post']}")
    assert post.status_code == 200, post.text
    assert post.json()["title"] == "Kept"
    if installed("tasks"):
        assert task(stack.web, stack.state["access"], stack.state["job"])["status"] == "complete"


def test_three_web_containers_behind_nginx_share_revocation(stack: Stack) -> None:
    stack.compose(*SCALE, "--profile", "nginx", "up", "-d", "--wait", "--scale", "web=3")
    stack.compose(*SCALE, "restart", "nginx")
    webs = stack.containers("web")
    assert len(webs) == 3, webs
    stack.wait_healthy(stack.nginx)

    # nginx spreads requests over the replicas (/health names the answering container).
    seen = set()
    for _ in range(18):
        response = httpx.get(f"{stack.nginx}/health", timeout=10)
        assert response.status_code == 200, response.text
        seen.add(response.json()["instance"].split(":")[0])
    assert len(seen) >= 2, f"every request reached one container: {seen}"

    # A token revoked through one container is refused by the others.
    replicas = [f"http://{stack.address(container)}:8000" for container in webs]
    access, refresh = stack.state["doomed"]
    for replica in replicas:
        assert me(replica, access).status_code == 200, replica
    out = httpx.post(
        f"{replicas[0]}{API}/logout", headers={**bearer(access), **refresh_cookie(refresh)}
    )
    assert out.status_code == 200, out.text
    for replica in replicas[1:]:
        assert me(replica, access).status_code == 401, replica
        renewed = httpx.post(f"{replica}{API}/refresh", headers=refresh_cookie(refresh))
        assert renewed.status_code == 401, replica
    assert me(stack.nginx, access).status_code == 401
    assert me(stack.nginx, stack.state["access"]).status_code == 200


def test_down_v_removes_containers_volumes_and_network(stack: Stack) -> None:
    stack.compose("--profile", "*", "down", "-v", timeout=180)
    label = f"label=com.docker.compose.project={stack.project}"
    assert stack.docker("ps", "-a", "-q", "--filter", label) == ""
    assert stack.docker("volume", "ls", "-q", "--filter", label) == ""
    assert stack.docker("network", "ls", "-q", "--filter", label) == ""
