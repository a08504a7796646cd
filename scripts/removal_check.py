"""The removal check (`make check-removal`): each optional feature, and all of them at once,
removed from a scratch copy of the project exactly as README's "Removing a feature" says; the
copy must still lint, type-check, migrate and serve.

README's table in that section is the list of features: each row names a package and its line
in src/app/domains.py. For each row, and for one copy without any of them, the check

1. copies the project's files (those git tracks, and new ones it does not ignore) into a
   scratch directory, with the mypy, ruff and import-linter caches, so that only what the
   removal touched is checked again;
2. deletes src/app/<package>/, tests/<package>/ and the line, and nothing else;
3. installs the copy (`make install`: uv links the locked wheels from its cache);
4. runs `make lint typecheck` in it (ruff, the import contracts, strict mypy) and, on a
   single feature's copy, `make migrations-check` (Alembic up, down and up, and the drift
   check, on PostgreSQL and SQLite);
5. runs the copy's `app migrate` and `app serve` on a fresh PostgreSQL database with Redis,
   and on the embedded default (SQLite, in-process backends), and walks register, login,
   me, refresh and logout over HTTP;
6. on the copy without any feature, runs the fast tests (`pytest -m "not slow"`), the
   migration check among them.

Copies run in parallel (`--jobs`, the machine's cores by default), the longest first.

    make check-removal                 # each feature, and all of them at once
    make check-removal ARGS="tasks"    # one feature
    make check-removal ARGS="all"      # all of them at once only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOMAINS_PY = Path("src/app/domains.py")
SECTION = "## Removing a feature"
# A row of README's table: | what it is | `package` | `its line in domains.py` |
ROW = re.compile(
    r"^\|(?P<what>[^|]+)\|\s*`(?P<package>[a-z_][a-z0-9_]*)`\s*\|\s*`(?P<line>[^`]+)`\s*\|\s*$"
)
# In the first column, "needs `mail`": the feature goes when `mail` is removed.
NEEDS = re.compile(r"needs `(?P<package>[a-z_][a-z0-9_]*)`")
# The name of the copy without any of the features.
ALL = "all"
# The caches a copy starts from: what the removal did not touch is not checked again.
CACHES = (".mypy_cache", ".ruff_cache", ".import_linter_cache")

# Features whose removal does not pass yet (issue 21 is making each of them a plug-in): their
# copies, and the copy without any feature, are expected to fail and are reported as such.
# One that passes fails the check, so that it is taken off this list.
NOT_YET_REMOVABLE: frozenset[str] = frozenset()

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "removal-check-password-1"  # noqa: S105 (a throwaway user's)
# How long one step may take before it counts as failed.
STEP_TIMEOUT = 1200
# Lines of a failed step's output that say why, in the report.
WHY_LINES = 12
# mypy, ruff (rule and place), ruff format, lint-imports, pytest, tracebacks.
ERROR_LINE = re.compile(
    r"error:|^[A-Z]+\d+ |^\s*--> |^Would reformat|BROKEN|^- app\.|^FAILED |^ERROR |Error\b"
)


class StepFailed(Exception):
    """A step of a copy's check failed; `why` holds the lines of its output that say so."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(step)
        self.step = step
        self.why = why


@dataclass(frozen=True)
class Feature:
    package: str
    line: str  # its line in src/app/domains.py, stripped
    needs: tuple[str, ...] = ()  # the features it cannot work without


@dataclass
class Outcome:
    name: str
    lines_removed: int
    seconds: float
    failures: list[StepFailed]
    expected_to_fail: bool
    log: Path

    @property
    def unexpected(self) -> bool:
        return bool(self.failures) != self.expected_to_fail

    @property
    def result(self) -> str:
        if not self.failures:
            if self.expected_to_fail:
                return "PASSED, but listed in NOT_YET_REMOVABLE: take it off"
            return "passed"
        steps = ", ".join(failure.step for failure in self.failures)
        if self.expected_to_fail:
            return f"fails at {steps} (not yet removable)"
        return f"FAILED at {steps}"


@dataclass
class Copy:
    """One scratch copy: the features it goes without, and what it runs."""

    name: str
    features: tuple[Feature, ...]
    fast_tests: bool
    root: Path
    log: Path
    lines_removed: int = 0

    @property
    def expected_to_fail(self) -> bool:
        return any(feature.package in NOT_YET_REMOVABLE for feature in self.features)


# --- the list ------------------------------------------------------------------------------


def readme_features(text: str) -> list[Feature]:
    """The rows of README's "Removing a feature" table."""
    _, found, rest = text.partition(f"\n{SECTION}\n")
    if not found:
        raise SystemExit(f"README.md has no {SECTION!r} section")
    section = rest.split("\n## ", 1)[0]
    features = [
        Feature(
            match["package"],
            match["line"].strip(),
            tuple(need["package"] for need in NEEDS.finditer(match["what"])),
        )
        for match in map(ROW.match, section.splitlines())
        if match
    ]
    if not features:
        raise SystemExit(f"README.md's {SECTION!r} section lists no feature")
    return features


def check_listed(features: Sequence[Feature]) -> None:
    """README and the code must agree: each package exists, each line is in domains.py once."""
    lines = [line.strip() for line in (ROOT / DOMAINS_PY).read_text().splitlines()]
    for feature in features:
        if not (ROOT / "src" / "app" / feature.package).is_dir():
            raise SystemExit(f"README lists {feature.package}, but src/app/ has no such package")
        if lines.count(feature.line) != 1:
            raise SystemExit(
                f"README gives {feature.line!r} as {feature.package}'s line, but "
                f"{DOMAINS_PY} holds it {lines.count(feature.line)} times"
            )


# --- making a copy -------------------------------------------------------------------------


def project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [Path(name) for name in listed.split("\0") if name]


def count_lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except UnicodeDecodeError:
        return 0


def make_copy(copy: Copy, files: Sequence[Path]) -> None:
    """The project's files and caches in `copy.root`, less the features: their two packages
    and their line in domains.py."""
    for name in files:
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is not copied
            (copy.root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy.root / name, follow_symlinks=False)
    for cache in CACHES:
        if (ROOT / cache).is_dir():
            shutil.copytree(ROOT / cache, copy.root / cache, symlinks=True)

    removed = 0
    for feature in copy.features:
        for package in (Path("src/app") / feature.package, Path("tests") / feature.package):
            target = copy.root / package
            if target.is_dir():
                removed += sum(count_lines(path) for path in target.rglob("*") if path.is_file())
                shutil.rmtree(target)
    domains = copy.root / DOMAINS_PY
    gone = {feature.line for feature in copy.features}
    kept = [
        line for line in domains.read_text().splitlines(keepends=True) if line.strip() not in gone
    ]
    removed += len(domains.read_text().splitlines()) - len(kept)
    domains.write_text("".join(kept))
    copy.lines_removed = removed


# --- running a step ------------------------------------------------------------------------


def copy_env() -> dict[str, str]:
    """This environment without what ties a process to this checkout's own virtualenv."""
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"):
        env.pop(name, None)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(name, None)  # the copy's make is not a sub-make of ours
    own = str(ROOT)
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if not entry.startswith(own)
    )
    return env


def why(output: str) -> str:
    """The lines of a failed step's output that say why: errors if it names any, else its end."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.search(line)]
    return "\n".join((errors or lines)[-WHY_LINES:])


def run(
    copy: Copy,
    step: str,
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run `argv` in the copy, with `env` added to its environment; its output goes to the
    copy's log. Failing raises StepFailed."""
    started = time.monotonic()
    with copy.log.open("a") as log:
        log.write(f"\n$ {' '.join(argv)}\n")
        log.flush()
        try:
            done = subprocess.run(
                argv,
                cwd=cwd or copy.root,
                env={**copy_env(), **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=STEP_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else ""
            log.write(output)
            raise StepFailed(step, f"still running after {STEP_TIMEOUT} s") from None
        log.write(done.stdout)
        log.write(f"({step}: exit {done.returncode}, {time.monotonic() - started:.1f} s)\n")
    if done.returncode != 0:
        raise StepFailed(step, why(done.stdout))


# --- `app serve`, over HTTP ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _admin(statement: str) -> None:
    dsn = ADMIN_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped on the way out; its URL."""
    database = f"removal_check_{name}_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        yield ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{database}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    """A database of the local Redis that nothing else uses meanwhile, claimed the way the
    test runs claim theirs (tests/helpers/settings.py), flushed before and after."""
    for number in range(15, 0, -1):
        handle = (Path(tempfile.gettempdir()) / f"app-tests-redis-db-{number}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        url = f"redis://127.0.0.1:6379/{number}"
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
            yield url
        finally:
            client.flushdb()
            client.close()
            handle.close()
        return
    raise StepFailed("serve", "every Redis database of 127.0.0.1:6379 is claimed")


def session_flow(base: str) -> None:
    """Register, log in, read me, refresh, log out; then neither token works."""
    api = f"{base}/api/v1"
    with httpx.Client(base_url=api, timeout=30) as client:
        body = {"name": "Removal Check", "username": "remover", "email": "remover@example.com"}
        expect(client.post("/user", json={**body, "password": PASSWORD}), 201, "register")
        login = client.post("/login", data={"username": "remover", "password": PASSWORD})
        expect(login, 200, "login")
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        me = client.get("/user/me/", headers=bearer)
        expect(me, 200, "me")
        if me.json().get("username") != "remover":
            raise StepFailed("serve", f"me answered {me.text}")
        refreshed = client.post("/refresh")
        expect(refreshed, 200, "refresh")
        bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        expect(client.post("/logout", headers=bearer), 200, "logout")
        expect(client.get("/user/me/", headers=bearer), 401, "me after logout")
        expect(client.post("/refresh"), 401, "refresh after logout")


def expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise StepFailed(
            "serve", f"{what}: {response.status_code} (not {status}): {response.text[:300]}"
        )


def serve(copy: Copy, backend: str, settings: dict[str, str]) -> None:
    """The copy's `app migrate` then `app serve`, in an empty directory with only `settings`,
    and the session flow against it; the server must stop cleanly, with no traceback."""
    step = f"serve ({backend})"
    started = time.monotonic()
    app = str(copy.root / ".venv" / "bin" / "app")
    workdir = Path(tempfile.mkdtemp(prefix=f"serve-{backend}-", dir=copy.root.parent))
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env.update(settings)
    header = f"$ app migrate && app serve ({backend})\n"
    with copy.log.open("a") as log:
        log.write(f"\n{header}")
        log.flush()
        migrated = subprocess.run(
            [app, "migrate"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
        )
        log.write(migrated.stdout + migrated.stderr)
        if migrated.returncode != 0:
            raise StepFailed(step, why(migrated.stdout + migrated.stderr))
        log.flush()
        url = f"http://127.0.0.1:{free_port()}"
        server = subprocess.Popen(
            [app, "serve", "--host", "127.0.0.1", "--port", url.rpartition(":")[2]],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        failed = None
        try:
            wait_until_up(server, f"{url}/health")
            session_flow(url)
        except StepFailed as exc:
            failed = exc.why
        finally:
            stop(server)
        output = copy.log.read_text().rpartition(header)[2]
        # A graceful stop: the lifespan closed everything, then the server ended by its signal.
        if failed is None and (
            server.returncode not in (0, -signal.SIGTERM)
            or "Application shutdown complete" not in output
            or "Traceback" in output
        ):
            failed = f"the server stopped with {server.returncode}"
        if failed is not None:
            raise StepFailed(step, f"{failed}\n{why(output)}")
        log.write(f"({step}: {time.monotonic() - started:.1f} s)\n")


def wait_until_up(server: subprocess.Popen[bytes], url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise StepFailed("serve", f"`app serve` ended with {server.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise StepFailed("serve", f"{url} did not answer within {within:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


# --- one copy ------------------------------------------------------------------------------


def steps(copy: Copy, uv: str) -> list[tuple[str, Callable[[], None]]]:
    """What a copy runs, in order: (step, how)."""
    make = ["make", "--no-print-directory", f"UV={uv}"]

    def make_target(step: str, target: str) -> tuple[str, Callable[[], None]]:
        return step, lambda: run(copy, step, [*make, target])

    def serve_on_postgres() -> None:
        with postgres_database(copy.name) as database_url, redis_database() as redis_url:
            serve(copy, "postgresql", {"DATABASE_URL": database_url, "REDIS_URL": redis_url})

    def fast_tests() -> None:
        pytest = [str(copy.root / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"]
        run(copy, "fast tests", [*pytest, "-n", "2", "--dist", "loadgroup", "-m", "not slow"])

    planned = [make_target("install", "install"), make_target("lint", "lint")]
    planned.append(make_target("mypy", "typecheck"))
    if not copy.fast_tests:  # the fast tests hold the migration check
        planned.append(make_target("migrations", "migrations-check"))
    planned.append(("serve (postgresql)", serve_on_postgres))
    planned.append(("serve (sqlite)", lambda: serve(copy, "sqlite", {})))
    if copy.fast_tests:
        planned.append(("fast tests", fast_tests))
    return planned


def check(copy: Copy, uv: str, keep_going: bool) -> Outcome:
    """Run the copy's steps; the first failure ends them, unless `keep_going` (but a failed
    install always does)."""
    started = time.monotonic()
    failures: list[StepFailed] = []
    for step, how in steps(copy, uv):
        try:
            how()
        except StepFailed as failed:
            failures.append(failed)
            if step == "install" or not keep_going:
                break
    return Outcome(
        name=copy.name,
        lines_removed=copy.lines_removed,
        seconds=time.monotonic() - started,
        failures=failures,
        expected_to_fail=copy.expected_to_fail,
        log=copy.log,
    )


# --- the report ----------------------------------------------------------------------------


def report(outcomes: Sequence[Outcome], keep: Path | None) -> None:
    width = max(len("feature"), *(len(outcome.name) for outcome in outcomes))
    print(f"\n{'feature':<{width}}  lines removed  seconds  result")
    for outcome in outcomes:
        print(
            f"{outcome.name:<{width}}  {outcome.lines_removed:>13}  {outcome.seconds:>7.0f}"
            f"  {outcome.result}"
        )
    for outcome in outcomes:
        if not outcome.failures:
            continue
        print(f"\n{outcome.name}: {outcome.result}")
        for failure in outcome.failures:
            print(f"  {failure.step}:")
            print("    " + failure.why.replace("\n", "\n    "))
        if keep:
            print(f"    (the whole output: {outcome.log})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "features",
        nargs="*",
        help=f"the features to check, `{ALL}` for the copy without any (default: each, and {ALL})",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="copies at once")
    parser.add_argument(
        "--uv",
        default=shutil.which("uv") or str(ROOT / ".tools/bin/uv"),
        help="the uv that installs the copies",
    )
    parser.add_argument("--keep", type=Path, help="make the copies here and keep them")
    parser.add_argument(
        "--keep-going", action="store_true", help="run a copy's other steps after one fails"
    )
    args = parser.parse_args(argv)

    listed = readme_features(README.read_text())
    check_listed(listed)
    wanted = set(args.features) or {ALL, *(feature.package for feature in listed)}
    unknown = wanted - {ALL, *(feature.package for feature in listed)}
    if unknown:
        parser.error(f"README lists no feature {', '.join(sorted(unknown))}")

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="removal-check-"))
    scratch.mkdir(parents=True, exist_ok=True)
    # The copy without any feature first: it runs the fast tests, the longest step.
    copies = [(ALL, tuple(listed), True)] if ALL in wanted else []
    # A feature goes with those that need it (the README says so in their row).
    copies += [
        (
            feature.package,
            (feature, *(other for other in listed if feature.package in other.needs)),
            False,
        )
        for feature in listed
        if feature.package in wanted
    ]
    planned = [
        Copy(name, features, fast, root=scratch / name, log=scratch / f"{name}.log")
        for name, features, fast in copies
    ]
    print(f"removal check: {len(planned)} copies, {args.jobs} at a time, in {scratch}", flush=True)
    try:
        # Every copy is made before any runs: all of them check the project as it is now.
        files = project_files()
        for copy in planned:
            make_copy(copy, files)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(check, copy, args.uv, args.keep_going) for copy in planned]
            for future in as_completed(futures):
                done = future.result()
                print(f"  {done.name}: {done.result} ({done.seconds:.0f} s)", flush=True)
        outcomes = [future.result() for future in futures]
        report(outcomes, args.keep)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 1 if any(outcome.unexpected for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
