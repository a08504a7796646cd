"""The TypeScript client (clients/typescript/): what is committed is what `make client` makes
of the current OpenAPI document (the drift check), it type-checks with tsc, and its example
runs with node against a real `app serve` on the run's database and Redis.

Node and npm are Debian's packages (`apt-get install nodejs npm`; `.ci/run` installs them):
without them these tests fail, saying so. The client's packages are installed from its lock
(`npm ci`) once per lock into a directory of the machine's temporary folder that later runs
reuse; each test works on a copy of the client, so the tree stays as committed.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.features import installed, needs
from tests.helpers.processes import APP, Process, free_port, run
from tests.helpers.settings import app_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "typescript"
# The client as committed, less what `npm ci` installs.
COMMITTED = ("package.json", "package-lock.json", "tsconfig.json", "openapi.json", "src")
EXAMPLE = "example.ts"
# What `make client` writes: the document, and the types openapi-typescript makes of it.
GENERATED = ("openapi.json", "src/schema.ts")
NPM_CI_SECONDS = 600
NODE_SECONDS = 120


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the TypeScript client's tests need Debian's "
            "nodejs and npm (as root: apt-get install nodejs npm; .ci/run installs them)",
            pytrace=False,
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Held by one test run at a time on this machine (parallel workers, other worktrees)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The client's packages, installed by `npm ci` from its lock, once per lock."""
    _require_node()
    manifest = b"".join((CLIENT / name).read_bytes() for name in COMMITTED[:2])
    digest = hashlib.sha256(manifest).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"app-typescript-client-{digest}"
    installed_mark = home / ".installed"
    with _locked(home.with_name(home.name + ".lock")):
        if not installed_mark.exists():
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            for name in COMMITTED[:2]:
                shutil.copy2(CLIENT / name, home / name)
            result = run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=home,
                env=os.environ,
                timeout=NPM_CI_SECONDS,
            )
            assert result.returncode == 0, f"npm ci failed:\n{result.stdout}{result.stderr}"
            installed_mark.touch()
    return home / "node_modules"


@pytest.fixture
def client_copy(tmp_path: Path, node_modules: Path) -> Path:
    """A copy of the committed client with its packages; without posts, without the example
    (which publishes one)."""
    copy = tmp_path / "client"
    copy.mkdir()
    for name in (*COMMITTED, *((EXAMPLE,) if installed("posts") else ())):
        source = CLIENT / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        else:
            shutil.copy2(source, copy / name)
    (copy / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return copy


def _tsc(copy: Path, *args: str) -> None:
    tsc = str(copy / "node_modules" / ".bin" / "tsc")
    result = run([tsc, "-p", str(copy), *args], cwd=copy, env=os.environ, timeout=NODE_SECONDS)
    assert result.returncode == 0, f"tsc {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_the_committed_client_is_made_from_the_current_schema(client_copy: Path) -> None:
    """The document and the types are made again, into the copy, exactly as `make client`
    makes them; any difference with the committed ones fails."""
    written = run(
        [sys.executable, "scripts/openapi.py", str(client_copy / "openapi.json")],
        cwd=ROOT,
        env=os.environ,
    )
    assert written.returncode == 0, written.stdout + written.stderr
    generated = run(
        ["npm", "run", "--silent", "generate"], cwd=client_copy, env=os.environ, timeout=120
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr

    for name in GENERATED:
        committed = (CLIENT / name).read_text().splitlines(keepends=True)
        current = (client_copy / name).read_text().splitlines(keepends=True)
        diff = "".join(
            difflib.unified_diff(committed, current, f"committed/{name}", f"current/{name}", n=2)
        )
        assert not diff, (
            f"clients/typescript/{name} is not what the current API makes of it: run "
            f"`make client` and commit the result. The first differences:\n{diff[:4000]}"
        )


# A misuse of the client that tsc must refuse, and nothing else: the types hold the requests
# and the responses to the document (a generator that gave up would type them `any`).
MISUSE = """\
import { createApiClient } from "./index.js";
const api = createApiClient("http://127.0.0.1:8000");
await api.POST("/api/v1/user", {
  body: { name: "Ada Lovelace", username: "ada", password: "correct-horse-1" },
});
const me = await api.GET("/api/v1/user/me/");
console.log(me.data?.hashed_password);
"""
TSC_ERROR = re.compile(r"^(?P<file>\S+)\((?P<line>\d+),\d+\): error TS", re.MULTILINE)


def test_the_client_and_its_example_type_check(client_copy: Path) -> None:
    """One `tsc --noEmit` over the client, the example and a misuse: the only errors are the
    misuse's two (a sign-up without its email, a field no response has)."""
    (client_copy / "src" / "misuse.ts").write_text(MISUSE)
    tsc = str(client_copy / "node_modules" / ".bin" / "tsc")
    result = run(
        [tsc, "-p", str(client_copy), "--noEmit"],
        cwd=client_copy,
        env=os.environ,
        timeout=NODE_SECONDS,
    )
    errors = {(m["file"], int(m["line"])) for m in TSC_ERROR.finditer(result.stdout)}
    assert errors == {("src/misuse.ts", 4), ("src/misuse.ts", 7)}, result.stdout + result.stderr


# What the example prints, line by line (post ids and tags vary).
EXAMPLE_OUTPUT = (
    r"signed up: tsclient",
    r"signed in: access token for 1800 s, refresh token in the body",
    r"published post \d+: Hello",
    r'posts page: 1 post\(s\), ETag "[^"]+"',
    r"posts page again with If-None-Match: 304 Not Modified",
    r"refreshed: a new access token and a new refresh token, in the body",
    r"the new access token reads the account of tsclient",
)


@needs("posts")
def test_the_example_runs_against_a_served_app(
    client_copy: Path, database_url: str, tmp_path: Path
) -> None:
    _tsc(client_copy)  # into dist/, beside the packages node resolves its imports from
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = app_env(
        database_url,
        LOG_LEVEL="WARNING",
        # The cheapest hashing the settings allow: the example signs up and in.
        PASSWORD_HASH_MEMORY_KIB=8192,
        PASSWORD_HASH_TIME_COST=1,
    )
    argv = [APP, "serve", "--host", "127.0.0.1", "--port", str(port)]
    example = ["node", str(client_copy / "dist" / "example.js"), base_url, "tsclient"]
    with Process("serve", argv, cwd=tmp_path, env=env) as server:
        server.wait_for_http(f"{base_url}/health")
        first = run(example, cwd=client_copy, env=os.environ, timeout=NODE_SECONDS)
        assert first.returncode == 0, f"{first.stdout}{first.stderr}\n{server.log()[-4000:]}"
        lines = first.stdout.splitlines()
        assert len(lines) == len(EXAMPLE_OUTPUT), first.stdout
        for line, expected in zip(lines, EXAMPLE_OUTPUT, strict=True):
            assert re.fullmatch(expected, line), (line, expected)

        posts = httpx.get(f"{base_url}/api/v1/tsclient/posts", timeout=10).json()
        assert [post["title"] for post in posts["data"]] == ["Hello"]

        # An unexpected answer ends the example with an error: the name is taken now.
        again = run(example, cwd=client_copy, env=os.environ, timeout=NODE_SECONDS)
        assert again.returncode != 0, again.stdout
        assert again.stdout == ""
        assert "sign up: HTTP 409" in again.stderr, again.stderr
