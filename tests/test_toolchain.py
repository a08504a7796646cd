"""The toolchain a clone comes with, run as a developer would run it, so that its files cannot
rot: pre-commit's hooks (.pre-commit-config.yaml) on the whole tree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"
# mypy from a cold cache and the migrations test on a loaded 2-core machine take minutes.
PRE_COMMIT_SECONDS = 900


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
