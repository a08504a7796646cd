"""The benchmark harness works: `python -m bench.run --smoke` runs every scenario end to end.

It serves the app with `app serve --workers 2` on its own PostgreSQL database and Redis
database, loads a little data, drives every scenario with wrk for 2 s and writes its report.
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
    by_id = {s["id"]: s for s in results["scenarios"]}
    for sid in SCENARIOS:
        assert sid in by_id, f"{sid} missing from results.json\n{output}"
    pages = [sid for sid in by_id if sid.startswith("S9-p")]
    assert len(pages) == 3, pages
    for sid, scenario in by_id.items():
        assert scenario["requests"] > 0, f"{sid} made no request\n{output}"
        assert scenario["successful"] > 0, f"{sid} got no successful response\n{output}"
    # The cursor pages reached the database, not the response cache.
    for sid in pages:
        assert by_id[sid]["counters"]["misses"] > 0, by_id[sid]
        assert by_id[sid]["counters"]["hits"] == 0, by_id[sid]
    assert results["hash_rate"]["per_second"] > 0
    assert results["targets"], "no target was evaluated"
    assert all(m["rss_mib"] > 0 for m in results["worker_memory"])
    assert (tmp_path / "results.txt").exists()
