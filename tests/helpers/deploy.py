"""nginx for the tests of the deployment files (tests/test_deploy_files.py) and for the tests
that run it in front of `app serve` (tests/test_multi_instance.py, tests/metrics), with the
local nginx configuration filled in; Prometheus for the metrics test (tests/metrics)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import Process, clean_env, free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX_LOCAL_TEMPLATE = ROOT / "deploy" / "nginx" / "local.conf.template"


def debian_binary(package: str, candidates: tuple[str, ...], needed_by: str) -> str:
    """The executable `candidates[0]` (found on PATH or at one of the other candidates, full
    paths); installed from Debian's `package` when missing and running as root."""

    def find() -> str | None:
        found = shutil.which(candidates[0])
        if found:
            return found
        for candidate in candidates[1:]:
            if os.access(candidate, os.X_OK):
                return candidate
        return None

    found = find()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{package} is needed by {needed_by} and is not installed; install it "
            f"(Debian/Ubuntu: sudo apt-get install -y {package}), or run the tests as root, "
            "which installs it"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if result.returncode != 0:
            pytest.fail(
                f"installing {package} failed: {' '.join(command)} exited {result.returncode}\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
    found = find()
    if not found:
        pytest.fail(f"apt-get installed {package}, but no {candidates[0]} executable was found")
    return found


@functools.cache
def nginx_binary() -> str:
    """The nginx executable; installed from Debian's package when missing and running as root."""
    return debian_binary(
        "nginx", ("nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"), "the deployment tests"
    )


@functools.cache
def prometheus_binary() -> str:
    """The Prometheus server (tests/metrics scrapes the app with it); installed from
    Debian's package when missing and running as root, as nginx is."""
    return debian_binary("prometheus", ("prometheus", "/usr/bin/prometheus"), "the metrics test")


def fill_local_template(listen_port: int, upstream_ports: list[int]) -> str:
    """deploy/nginx/local.conf.template with its placeholders filled in."""
    servers = "\n        ".join(
        f"server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;" for port in upstream_ports
    )
    lines = []
    for line in NGINX_LOCAL_TEMPLATE.read_text().splitlines(keepends=True):
        if not line.lstrip().startswith("#"):  # the comments name the placeholders too
            line = line.replace("@LISTEN_PORT@", str(listen_port))
            line = line.replace("@UPSTREAM_SERVERS@", servers)
        lines.append(line)
    return "".join(lines)


def start_nginx(workdir: Path, upstream_ports: list[int]) -> tuple[Process, str]:
    """nginx on deploy/nginx/local.conf.template in front of `upstream_ports`, as an ordinary
    foreground process with its files in `workdir`/nginx; and the URL it answers on."""
    prefix = workdir / "nginx"
    prefix.mkdir()
    listen = free_port()
    (prefix / "nginx.conf").write_text(fill_local_template(listen, upstream_ports))
    directives = "daemon off;"
    if os.geteuid() == 0:
        # As root, nginx workers would switch to `nobody`, who cannot enter pytest's private
        # temporary directory where the proxy's temporary files live.
        directives += " user root;"
    argv = [nginx_binary(), "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log"]
    process = Process(
        "nginx",
        [*argv, "-g", directives],
        cwd=workdir,
        env=clean_env(),
        other_logs=[prefix / "error.log"],
    )
    return process, f"http://127.0.0.1:{listen}"


def _engine_problem() -> str | None:
    """Why nothing can run on Docker here (None when it can)."""
    docker = shutil.which("docker")
    if docker is None:
        return "no `docker` command on PATH"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if info.returncode != 0:
            return "no Docker engine answers `docker info`"
        version = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 30 s"
    if version.returncode != 0:
        return "`docker compose` (Compose v2) is missing"
    return None


def require_docker_engine(what: str) -> None:
    """At a module's top: skip it, with one line saying why, when no Docker engine with
    Compose v2 answers; in CI, fail instead (those tests must run there)."""
    problem = _engine_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} must run in CI: {problem}", pytrace=False)
    pytest.skip(
        f"{what} not run: {problem}; start Docker, then `make test-deploy`",
        allow_module_level=True,
    )
