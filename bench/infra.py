"""What the benchmark runs on: wrk, a throwaway PostgreSQL database, a Redis database, and the
server processes (the app under `app serve`, the ceiling app), with their workers' memory."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = os.environ.get("BENCH_REDIS_SERVER", "redis://127.0.0.1:6379")
# The test suite claims Redis databases 15, 14, ... 1 through these lock files; the bench takes
# one the same way, so a bench and test runs on one machine never flush each other's data.
REDIS_LOCK = "app-tests-redis-db-{number}.lock"
REDIS_PREFERENCE = [14, *range(13, 0, -1), 15]


class HarnessError(Exception):
    """The harness itself cannot go on (as opposed to a target that is missed)."""


def log(message: str) -> None:
    print(message, flush=True)


def venv_tool(name: str) -> Path:
    """An executable of the virtual environment that runs the harness (`app`, `py-spy`)."""
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        candidate = folder / name
        if candidate.exists():
            return candidate
    raise HarnessError(f"{name!r} is not in {Path(sys.executable).parent}: run `make install`")


def run_quiet(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output; HarnessError when it fails."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument lists built here, no shell
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"{argv[0]} failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-2000:]
        raise HarnessError(f"{' '.join(argv)} exited {done.returncode}:\n{tail}")
    return done


# wrk ----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The path of wrk; installs it with apt-get when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise HarnessError(
            "wrk is not installed and the harness is not running as root, so it cannot install "
            "it: run `sudo apt-get install -y wrk` (or install wrk from your package manager)"
        )
    apt = shutil.which("apt-get")
    if apt is None:
        raise HarnessError("wrk is not installed and there is no apt-get: install wrk yourself")
    # One installer at a time on this machine (two harnesses, or the test and a bench run).
    lock_path = Path(tempfile.gettempdir()) / "bench-wrk-install.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which("wrk")
        if found:
            return found
        log("wrk is missing: apt-get update && apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        wait_lock = ["-o", "DPkg::Lock::Timeout=300"]
        run_quiet([apt, *wait_lock, "update", "-qq"], env=env, timeout=900)
        run_quiet([apt, *wait_lock, "install", "-y", "-qq", "wrk"], env=env, timeout=900)
    found = shutil.which("wrk")
    if not found:
        raise HarnessError("apt-get installed wrk, but it is not on PATH")
    return found


def source_version() -> str:
    """The commit the app was served from, with '+changes' when src/app differs from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        head = subprocess.run(  # noqa: S603 - git with fixed arguments
            [git, "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - git with fixed arguments
            [git, "-C", str(REPO), "status", "--porcelain", "--", "src/app"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def wrk_version(wrk: str) -> str:
    done = subprocess.run(  # noqa: S603 - the wrk binary found on PATH
        [wrk, "--version"], capture_output=True, text=True, check=False, timeout=10
    )
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "wrk"


def raise_open_files_limit() -> None:
    """preexec_fn for load generators: as many sockets as the hard limit allows (65536 if root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    if hard != resource.RLIM_INFINITY and hard < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        want = hard
    if soft == resource.RLIM_INFINITY or soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# PostgreSQL -----------------------------------------------------------------------------------


def _async_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


async def _admin(*statements: str) -> None:
    engine = create_async_engine(_async_url(ADMIN_DATABASE_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@dataclass
class Database:
    """A fresh database `bench_<pid>` on the local server, dropped by `drop()`."""

    name: str = field(default_factory=lambda: f"bench_{os.getpid()}")

    @property
    def url(self) -> str:
        """The plain `postgresql://` URL the app is given as DATABASE_URL."""
        return (
            make_url(ADMIN_DATABASE_URL)
            .set(database=self.name)
            .render_as_string(hide_password=False)
        )

    def create(self) -> None:
        try:
            asyncio.run(
                _admin(
                    f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                    f'CREATE DATABASE "{self.name}"',
                )
            )
        except Exception as exc:
            raise HarnessError(f"cannot create database {self.name} ({exc})") from exc

    def drop(self) -> None:
        try:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        except Exception as exc:
            log(f"warning: could not drop database {self.name}: {exc}")

    async def execute(
        self, *statements: str, params: Mapping[str, Any] | None = None, autocommit: bool = False
    ) -> list[Any]:
        """Run statements in one transaction (or autocommit); the first column of the last."""
        options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
        engine = create_async_engine(_async_url(self.url), **options)
        rows: list[Any] = []
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    result = await conn.execute(text(statement), dict(params or {}))
                    rows = list(result.scalars().all()) if result.returns_rows else []
                if not autocommit:
                    await conn.commit()
        finally:
            await engine.dispose()
        return rows


# Redis ----------------------------------------------------------------------------------------


class RedisDatabase:
    """A Redis database number no test run or other bench holds; flushed on claim and release."""

    def __init__(self) -> None:
        self.number: int | None = None
        self._lock: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"{REDIS_SERVER}/{self.number}"

    def claim(self) -> None:
        for number in REDIS_PREFERENCE:
            handle = (Path(tempfile.gettempdir()) / REDIS_LOCK.format(number=number)).open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.number, self._lock = number, handle
            break
        else:
            raise HarnessError("every Redis database 1-15 is held by a test run or a bench")
        try:
            self.flush()
        except Exception as exc:
            self.release()
            raise HarnessError(f"Redis at {REDIS_SERVER} does not answer ({exc})") from exc

    def flush(self) -> None:
        client = Redis.from_url(self.url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()

    def release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(Exception):
            self.flush()
        self._lock.close()
        self._lock = None


# servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids.extend(int(x) for x in (task / "children").read_text().split())
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: count the fields after its ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident at its peak) of a process, in KiB."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            match = re.match(r"(VmRSS|VmHWM):\s+(\d+) kB", line)
            if match:
                values[match.group(1)] = int(match.group(2))
    return values


@dataclass
class WorkerMemory:
    pid: int
    rss_mib: float
    peak_mib: float

    def as_dict(self) -> dict[str, float | int]:
        return {"pid": self.pid, "rss_mib": self.rss_mib, "peak_mib": self.peak_mib}


class Server:
    """A server started in its own session: a supervisor (uvicorn's or Granian's) and its worker
    processes."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        port: int,
        workers: int,
        log_path: Path,
        cwd: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.port = port
        self.workers = workers
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise HarnessError(f"{self.name} is not running")
        return self.proc.pid

    def start(self, ready_path: str = "/health", timeout: float = 90) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - the venv's own executables
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(ready_path, timeout)

    def _wait_ready(self, path: str, timeout: float) -> None:
        """Wait until every worker process has answered `path` (its body names its pid)."""
        deadline = time.monotonic() + timeout
        answered: set[int] = set()
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise HarnessError(f"{self.name} exited {code} at start-up:\n{self.log_tail()}")
            pids = set(self.worker_pids())
            if len(pids) >= self.workers:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    # A new connection each time, so that the kernel hands it to either worker.
                    response = httpx.get(
                        self.base_url + path, timeout=2, headers={"Connection": "close"}
                    )
                    instance = str(response.json().get("instance", ""))
                    answered.add(int(instance.rsplit(":", 1)[-1]))
                if pids <= answered:
                    return
            time.sleep(0.05)
        raise HarnessError(
            f"{self.name} was not ready after {timeout:.0f} s "
            f"(workers {sorted(self.worker_pids())}, answered {sorted(answered)}):\n"
            f"{self.log_tail()}"
        )

    def worker_pids(self) -> list[int]:
        """The server's worker processes: its children, but not multiprocessing's resource
        tracker (uvicorn spawns its workers; Granian forks them)."""
        if self.proc is None:
            return []
        return sorted(
            pid
            for pid in _children(self.proc.pid)
            if (line := _cmdline(pid)) and "resource_tracker" not in line
        )

    def cpu_seconds(self) -> float:
        """CPU time the workers have used so far, together."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def memory(self) -> list[WorkerMemory]:
        out = []
        for pid in self.worker_pids():
            values = memory_kib(pid)
            if "VmRSS" in values:
                out.append(
                    WorkerMemory(
                        pid,
                        round(values["VmRSS"] / 1024, 1),
                        round(values.get("VmHWM", values["VmRSS"]) / 1024, 1),
                    )
                )
        return out

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL to the session if it lingers."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"warning: {self.name} did not stop in {timeout:.0f} s: killing it")
        # The session holds the supervisor and its workers, all started here.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def running(server: Server, ready_path: str = "/health") -> Iterator[Server]:
    try:
        server.start(ready_path)
        yield server
    finally:
        server.stop()


def cpu_busy_fraction(seconds: float = 1.0) -> float:
    """How busy the machine's CPUs were over `seconds` (0..1), from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields[:8])

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total > 0 else float("nan")
