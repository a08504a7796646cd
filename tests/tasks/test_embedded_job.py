"""The sample job on the embedded default: with no configuration at all, `app migrate` then
`app serve` run a job enqueued over HTTP in the server's own process."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.processes import APP, Process, clean_env, free_port, run_app

pytestmark = pytest.mark.slow  # a server process


def test_a_job_runs_in_process(tmp_path: Path) -> None:
    env = clean_env(SAMPLE_TASK_SLEEP_SECONDS=0.2)
    migrated = run_app("migrate", cwd=tmp_path, env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    url = f"http://127.0.0.1:{free_port()}"
    argv = [APP, "serve", "--port", url.rpartition(":")[2]]
    with Process("serve", argv, cwd=tmp_path, env=env) as process:
        process.wait_for_http(f"{url}/openapi.json")
        with httpx.Client(base_url=f"{url}/api/v1") as client:
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
        process.stop(timeout=15)
    assert "embedded backends in use" in process.log()
    assert "Traceback" not in process.log(), process.log()
