"""A throwaway PostgreSQL server of a test's own, to stop, start and restart (the shared server
on 5432 is never touched): `initdb` into a temporary directory, then `postgres` as a child
process on a free port, run as the `postgres` user when the tests run as root. Everything is
removed on the way out, whether the test passed or not.

    with private_postgres() as pg:
        ...            # pg.url reaches it
        pg.restart()   # a fast shutdown (sessions ended with 57P01), then up again
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.helpers.processes import free_port

_VERSIONS = Path("/usr/lib/postgresql")


def postgres_bin() -> Path:
    """The newest installed server's bin directory (Debian's layout)."""
    found = sorted(
        (path for path in _VERSIONS.glob("*/bin") if (path / "postgres").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    assert found, f"no PostgreSQL server under {_VERSIONS}: this test needs one installed"
    return found[-1]


class PrivatePostgres:
    """One server: its data directory, its port, its log; `stop`, `start`, `restart`."""

    def __init__(self, root: Path, bin_dir: Path, user: str | None) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.user = user
        self.data = root / "data"
        self.log_path = root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, user=self.user, capture_output=True, text=True, timeout=60, check=False
        )

    def init(self) -> None:
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        assert done.returncode == 0, f"initdb failed:\n{done.stdout}\n{done.stderr}"

    def ready(self) -> bool:
        """True when the server accepts connections (pg_isready)."""
        probe = self._run(
            str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)
        )
        return probe.returncode == 0

    def start(self, timeout: float = 30) -> None:
        """Start the server; returns once it accepts connections."""
        assert self._process is None, "already running"
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            user=self.user,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not self.ready():
            assert self._process.poll() is None, f"postgres exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"postgres did not start:\n{self.log()}"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:
        """Stop the server: SIGINT is a fast shutdown (what `pg_ctl stop` and a service
        restart do), SIGQUIT an immediate one (as after a crash)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the server and return at once: SIGTERM begins a smart shutdown, in
        which the open sessions go on but new connections are refused (57P03)."""
        assert self._process is not None, "not running"
        self._process.send_signal(sig)

    def restart(self, sig: int = signal.SIGINT) -> None:
        """Stop (a fast shutdown, or as `stop` is told), then start again."""
        self.stop(sig)
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A new, empty, running server of the test's own; stopped and deleted on the way out."""
    bin_dir = postgres_bin()
    # initdb and postgres refuse to run as root: as root, they run as `postgres`, which then
    # owns the directory.
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="app-test-pg-"))
    try:
        if user is not None:
            shutil.chown(root, user=user)
        server = PrivatePostgres(root, bin_dir, user)
        server.init()
        try:
            server.start()
            yield server
        finally:
            server.stop(signal.SIGQUIT)
    finally:
        shutil.rmtree(root, ignore_errors=True)
