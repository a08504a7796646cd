"""The benchmark harness works: `python -m bench.run --smoke` runs every scenario end to end.

It serves the app with `app serve --workers 2` on its own PostgreSQL database and Redis
database, loads a little data, drives every scenario with wrk for 1 s under each server (Granian
and uvicorn), measures the ceiling and the database limit apps, and writes its report.
The harness installs wrk with apt-get when it is missing (as root), so this test never skips.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S10"]


def test_bench_smoke(tmp_path: Path) -> None:
    # The harness and its servers run on their own: no coverage of this run in the suite's.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COV_CORE_", "COVERAGE_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        timeout=600,
    )
    output = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, output

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "smoke"
    assert results["ceiling"]["successful"] > 0
    assert results["dblimit"]["successful"] > 0
    assert results["dblimit"]["non_2xx"] == 0
    assert results["servers"] == ["granian", "uvicorn"]
    by_key = {(s["server"], s["id"]): s for s in results["scenarios"]}
    for server in results["servers"]:
        for sid in SCENARIOS:
            assert (server, sid) in by_key, f"{sid} under {server} missing\n{output}"
        pages = [sid for srv, sid in by_key if srv == server and sid.startswith("S9-p")]
        assert len(pages) == 3, pages
        # The cursor pages reached the database, not the response cache, under each server.
        for sid in pages:
            assert by_key[(server, sid)]["counters"]["misses"] > 0, by_key[(server, sid)]
            assert by_key[(server, sid)]["counters"]["hits"] == 0, by_key[(server, sid)]
        assert results["targets"][server], f"no target was evaluated under {server}"
        s1 = by_key[(server, "S1")]
        assert s1["pct_of_dblimit"] > 0, s1
    for key, scenario in by_key.items():
        assert scenario["requests"] > 0, f"{key} made no request\n{output}"
        assert scenario["successful"] > 0, f"{key} got no successful response\n{output}"
    assert results["hash_rate"]["per_second"] > 0
    assert all(m["rss_mib"] > 0 for m in results["worker_memory"])
    assert (tmp_path / "results.txt").exists()
