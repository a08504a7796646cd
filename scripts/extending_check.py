"""The extending check (`make check-extending`): README's worked child entity, comments on
posts, added to a scratch copy of the project exactly as README's "Extending" says; the copy
must then lint, type-check, migrate, and pass the comments' tests and the posts'.

examples/comments/ holds what a user adds: src/app/comments/ (with the migration that the
documented command generated) and tests/comments/. The check

1. copies the project into a scratch directory, as the removal check does (the files git
   tracks or does not ignore, and the mypy, ruff and import-linter caches), and makes it a
   git repository of its own, so that `git status` can say what the steps changed;
2. adds the domain's line that README gives to src/app/domains.py, after posts' line, and
   runs README's commands (the `sh` blocks of its section), on a fresh PostgreSQL database
   in place of the one README exports: copying the two packages in, less the migration,
   then `make migrate`, `make migration ...` and `make migrate`;
3. checks that the generated migration is the shipped one (but for its id and date), and
   that git sees nothing changed but the two new packages, with one migration in them, and
   the one line;
4. runs `make lint typecheck` (ruff, the import contracts, strict mypy) then
   `make migrations-check` (Alembic up, down and up, and the drift check, on PostgreSQL and
   SQLite), and beside them `pytest tests/comments tests/posts -m "not slow"`.

    make check-extending
    make check-extending ARGS="--keep /tmp/extending"   # keep the copy and its logs
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from removal_check import (
    DOMAINS_PY,
    README,
    ROOT,
    Copy,
    StepFailed,
    copy_env,
    make_copy,
    postgres_database,
    project_files,
    run,
)

SECTION = "### A child entity: comments on posts"
EXAMPLE = Path("examples/comments")
PACKAGE = Path("src/app/comments")
TESTS = Path("tests/comments")
MIGRATIONS = PACKAGE / "migrations"
# The line after which README's line goes: the parent's.
PARENT_LINE = '"app.posts.domain",'
DOMAIN_LINE = re.compile(r'"app\.comments\.domain",')
SH_BLOCK = re.compile(r"^\s*```sh\n(.*?)^\s*```", re.MULTILINE | re.DOTALL)
# README exports a database of its own; the check gives the scratch one instead.
EXPORT_DATABASE = re.compile(r"^export DATABASE_URL=")
FAST_TESTS = ("tests/comments", "tests/posts", "-n", "2", "-m", "not slow")
GIT = ["git", "-c", "user.name=check", "-c", "user.email=check@example.invalid"]


def readme_steps(text: str) -> tuple[str, str]:
    """The domain's line and the shell commands of README's section on comments."""
    _, found, rest = text.partition(f"\n{SECTION}\n")
    if not found:
        raise SystemExit(f"README.md has no {SECTION!r} section")
    section = rest.split("\n## ", 1)[0].split("\n### ", 1)[0]
    line = DOMAIN_LINE.search(section)
    if line is None:
        raise SystemExit(f"README's {SECTION!r} gives no line for src/app/domains.py")
    commands = [
        command.strip()
        for block in SH_BLOCK.findall(section)
        for command in block.splitlines()
        if command.strip() and not command.strip().startswith("#")
    ]
    commands = [command for command in commands if not EXPORT_DATABASE.match(command)]
    if not any(command.startswith("make migration ") for command in commands):
        raise SystemExit(f"README's {SECTION!r} has no `make migration ...` command")
    return line.group(0), "\n".join(commands)


def add_line(copy: Copy, line: str) -> None:
    """`line` in DOMAIN_MODULES, after the parent's (indented as it is)."""
    domains = copy.root / DOMAINS_PY
    lines = domains.read_text().splitlines(keepends=True)
    parent = [i for i, text in enumerate(lines) if text.strip() == PARENT_LINE]
    if len(parent) != 1:
        raise StepFailed("add the line", f"{DOMAINS_PY} holds {PARENT_LINE} {len(parent)} times")
    at = parent[0]
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f"{indent}{line}\n")
    domains.write_text("".join(lines))


def git(copy: Copy, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=copy.root, capture_output=True, text=True, check=True
    ).stdout


def normalized(migration: str) -> str:
    """A migration less what differs between two generations: its id and its date."""
    text = re.sub(r"\b[0-9a-f]{12}\b", "<revision>", migration)
    return re.sub(r"Create Date: .*", "Create Date: <date>", text)


def check_migration(copy: Copy) -> None:
    generated = sorted((copy.root / MIGRATIONS).glob("*.py"))
    shipped = sorted((ROOT / EXAMPLE / MIGRATIONS).glob("*.py"))
    if len(generated) != 1 or len(shipped) != 1:
        raise StepFailed(
            "migration", f"{len(generated)} migrations generated, {len(shipped)} shipped"
        )
    theirs, ours = normalized(shipped[0].read_text()), normalized(generated[0].read_text())
    if theirs != ours:
        diff = difflib.unified_diff(
            theirs.splitlines(), ours.splitlines(), "shipped", "generated", lineterm=""
        )
        raise StepFailed("migration", "\n".join(list(diff)[:40]))


def check_changes(copy: Copy) -> None:
    """Nothing changed but the two packages (new) and src/app/domains.py (one line more)."""
    entries = git(copy, "status", "--porcelain=v1", "--untracked-files=all", "-z").split("\0")
    changed = [entry for entry in entries if entry]
    unexpected = [
        entry
        for entry in changed
        if entry != f" M {DOMAINS_PY}"
        and not (entry.startswith("?? ") and Path(entry[3:]).is_relative_to(PACKAGE))
        and not (entry.startswith("?? ") and Path(entry[3:]).is_relative_to(TESTS))
    ]
    if f" M {DOMAINS_PY}" not in changed:
        unexpected.append(f"(unchanged: {DOMAINS_PY})")
    if unexpected:
        raise StepFailed(
            "changes", "besides the two packages and the line:\n" + "\n".join(unexpected)
        )
    numstat = git(copy, "diff", "--numstat", "--", str(DOMAINS_PY)).split()
    if numstat[:2] != ["1", "0"]:
        raise StepFailed("changes", f"{DOMAINS_PY}: {' '.join(numstat[:2])} lines added, removed")


def uv_on_path(uv: str, scratch: Path) -> str:
    """A PATH on which `uv` is the given one (the copy's make finds it there)."""
    folder = scratch / "uv-bin"
    folder.mkdir(exist_ok=True)
    link = folder / "uv"
    if not link.exists():
        link.symlink_to(Path(uv).resolve())
    return f"{folder}{os.pathsep}{copy_env().get('PATH', '')}"


def timed(name: str, how: Callable[[], None], times: list[tuple[str, float]]) -> None:
    started = time.monotonic()
    try:
        how()
    finally:
        times.append((name, time.monotonic() - started))
        print(f"  {name}: {times[-1][1]:.0f} s", flush=True)


def check(scratch: Path, uv: str) -> list[tuple[str, float]]:
    """Every step, in order; the first failure raises StepFailed."""
    line, commands = readme_steps(README.read_text())
    copy = Copy("extending", (), False, root=scratch / "copy", log=scratch / "extending.log")
    times: list[tuple[str, float]] = []
    make = ["make", "--no-print-directory", f"UV={uv}"]

    def prepare() -> None:
        make_copy(copy, project_files())
        git(copy, "init", "-q")
        git(copy, "add", "-A")
        git(copy, "commit", "-q", "--no-gpg-sign", "-m", "the project")

    timed("copy", prepare, times)
    timed("install", lambda: run(copy, "install", [*make, "install"]), times)

    def follow_readme() -> None:
        add_line(copy, line)
        with postgres_database("extending") as database_url:
            env = {"DATABASE_URL": database_url, "PATH": uv_on_path(uv, scratch)}
            run(copy, "README's steps", ["bash", "-euo", "pipefail", "-c", commands], env=env)

    timed("README's steps", follow_readme, times)
    timed("migration", lambda: check_migration(copy), times)
    timed("changes", lambda: check_changes(copy), times)

    # Two lanes at once: the tools, then the migration check; and the tests.
    tools = Copy("tools", (), False, root=copy.root, log=scratch / "tools.log")
    tests = Copy("tests", (), False, root=copy.root, log=scratch / "tests.log")
    pytest = [str(copy.root / ".venv/bin/pytest"), "-q", "-p", "no:cacheprovider", *FAST_TESTS]

    def tool_lane() -> None:
        timed("lint, typecheck", lambda: run(tools, "lint", [*make, "lint", "typecheck"]), times)
        timed("migrations", lambda: run(tools, "migrations", [*make, "migrations-check"]), times)

    def test_lane() -> None:
        timed("tests", lambda: run(tests, "tests", pytest), times)

    with ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(tool_lane), pool.submit(test_lane)]
        failures = [lane.exception() for lane in lanes]
    for failure in failures:
        if failure is not None:
            raise failure
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--uv",
        default=shutil.which("uv") or str(ROOT / ".tools/bin/uv"),
        help="the uv that installs the copy",
    )
    parser.add_argument("--keep", type=Path, help="make the copy here and keep it")
    args = parser.parse_args(argv)

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="extending-check-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"extending check: README's comments on posts, in {scratch}", flush=True)
    started = time.monotonic()
    try:
        check(scratch, args.uv)
    except StepFailed as failed:
        print(f"\nFAILED at {failed.step} ({time.monotonic() - started:.0f} s):")
        print("  " + failed.why.replace("\n", "\n  "))
        if args.keep:
            print(f"  (the whole output: {scratch}/*.log)")
        return 1
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\npassed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
