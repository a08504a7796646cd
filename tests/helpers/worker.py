"""`app worker` as a process of its own, beside a Redis that a test stops and starts: its
environment, the compose healthcheck of its heartbeat, and the lines it logs about Redis."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.helpers.processes import Process
from tests.helpers.settings import app_env

ROOT = Path(__file__).parents[2]
LOST = "Redis lost at"
BACK = "Redis back at"
WAITING = "does not answer"


def compose_healthcheck(heartbeat: Path) -> str:
    """docker-compose.yml's healthcheck of the worker, as a shell command on `heartbeat`."""
    worker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    kind, command = worker["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    in_container = worker["environment"]["WORKER_HEARTBEAT_FILE"]
    assert in_container in command
    # `$$` is Compose's escape for a `$` left to the container's shell.
    return str(command.replace("$$", "$").replace(in_container, str(heartbeat)))


def healthy(healthcheck: str) -> bool:
    return subprocess.run(["sh", "-c", healthcheck], check=False, timeout=10).returncode == 0


@contextlib.contextmanager
def running(name: str, argv: list[str], workdir: Path, env: dict[str, str]) -> Iterator[Process]:
    process = Process(name, argv, cwd=workdir, env=env)
    try:
        yield process
    finally:
        process.stop(signal.SIGKILL, timeout=10)


def worker_env(database_url: str, redis_url: str, heartbeat: Path, **values: Any) -> dict[str, str]:
    return app_env(
        database_url,
        REDIS_URL=redis_url,
        WORKER_HEARTBEAT_FILE=heartbeat,
        **{"LOG_LEVEL": "INFO", **values},
    )
