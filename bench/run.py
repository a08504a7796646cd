"""The benchmark harness: the API as production runs it, measured with wrk against a ceiling.

    .venv/bin/python -m bench.run [--smoke] [--out DIR] [--skip-scale] [--profile S1,S2,...]

It creates a PostgreSQL database and claims a Redis database, serves the app with
`app serve --workers 2`, loads data through the public API (and the scale test's posts straight
into PostgreSQL), measures a minimal Starlette app under the same server settings (the
ceiling), then each scenario; prints the table and the targets, and writes results.json,
results.txt and results.png into --out. It exits 0 when the harness worked, whatever the
targets say; non-zero when it could not measure (in --smoke mode also when a scenario got no
successful request). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a file: `python bench/run.py`
    # Import `bench` from the repository, and keep bench/ itself off the path.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx

from bench import load as loader
from bench import profiles as profiler
from bench import report
from bench.infra import (
    HOST,
    REPO,
    Database,
    HarnessError,
    RedisDatabase,
    Server,
    WorkerMemory,
    cpu_busy_fraction,
    cpu_seconds,
    ensure_wrk,
    free_port,
    log,
    run_quiet,
    running,
    source_version,
    venv_tool,
    wrk_version,
)
from bench.wrk import Load, Wrk, WrkResult

WORKERS = 2
# `app serve --server NAME`: each scenario runs under each, the ceiling and the database limit
# under uvicorn only (the fixed yardstick).
SERVERS = ("granian", "uvicorn")
THREADS = 2
CONNECTIONS = 64
LOGIN_CONNECTIONS = 16
OVERLOAD_CONNECTIONS = 512
# High enough that no limit is reached during a run; the limiter still counts every request.
NO_LIMIT = 1_000_000_000
API = "/api/v1"


@dataclass(frozen=True)
class Mode:
    name: str
    bench_posts: int
    users: int
    scale_posts: int
    duration_s: int
    warmup_s: int
    login_duration_s: int
    users_page: int
    cursor_pages: tuple[int, ...]
    hash_verifications: int


FULL = Mode("full", 1_000, 5_000, 1_000_000, 15, 3, 10, 400, (1, 100, 10_000), 100)
# The smoke run checks that every scenario runs end to end: no warm-up.
SMOKE = Mode("smoke", 20, 50, 20_000, 1, 0, 1, 4, (1, 100, 1_000), 10)


class CursorWalk:
    """Hands out row ids for cursors, never the same one twice (see lua/cursor.lua)."""

    def __init__(self, start: int, step: int) -> None:
        self.next = start
        self.step = step

    def env(self) -> dict[str, str]:
        return {"BENCH_CURSOR_START": str(self.next), "BENCH_CURSOR_STEP": str(self.step)}

    def consumed(self, requests: int, connections: int) -> None:
        # wrk does not count requests still in flight at the end, and its threads may send
        # unequal numbers: leave a wide gap before the next run's first id.
        self.next += self.step * (2 * requests + 4 * connections + 1000)


@dataclass
class Spec:
    """One wrk measurement of the app."""

    id: str
    title: str
    method: str
    path: str
    load: Load
    script: str = "static"
    env: dict[str, str] = field(default_factory=dict)
    walk: CursorWalk | None = None
    warmup_walk: CursorWalk | None = None
    shown_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of `app serve`: production-like, and only what is set here.

    Every setting the app knows is removed from the inherited environment first, so that a
    developer's exports do not change what is measured (the servers also run in an empty
    directory, so no .env file is read)."""
    from app.core.config import Settings

    known = {name.upper() for name in Settings.model_fields}
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in known and not key.startswith(("COV_CORE_", "COVERAGE_"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_hex(32),
        ENVIRONMENT="local",
        LOG_LEVEL="WARNING",
        DEFAULT_RATE_LIMIT_LIMIT=str(NO_LIMIT),
        LOGIN_RATE_LIMIT_LIMIT=str(NO_LIMIT),
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=str(NO_LIMIT),
    )
    return env


def measure_hash_rate(env: dict[str, str], verifications: int) -> dict[str, Any]:
    """Argon2id verifications per second on every core at once, with the app's parameters
    (PASSWORD_HASH_* as the server's settings have them, through pwdlib as PasswordHasher)."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from app.core.config import Settings

    names = {name.upper() for name in Settings.model_fields}
    settings = Settings(_env_file=None, **{k: v for k, v in env.items() if k in names})
    hasher = PasswordHash(
        (
            Argon2Hasher(
                time_cost=settings.PASSWORD_HASH_TIME_COST,
                memory_cost=settings.PASSWORD_HASH_MEMORY_KIB,
                parallelism=settings.PASSWORD_HASH_PARALLELISM,
            ),
        )
    )
    stored = hasher.hash(loader.PASSWORD)
    threads = os.cpu_count() or 1

    def verify(_: int) -> bool:
        valid, _updated = hasher.verify_and_update(loader.PASSWORD, stored)
        return valid

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(verify, range(threads)))  # warm up
        started = time.perf_counter()
        results = list(pool.map(verify, range(verifications)))
        seconds = time.perf_counter() - started
    if not all(results):
        raise HarnessError("the Argon2id check did not verify its own hash")
    return {
        "verifications": verifications,
        "threads": threads,
        "seconds": round(seconds, 3),
        "per_second": round(verifications / seconds, 1),
        "time_cost": settings.PASSWORD_HASH_TIME_COST,
        "memory_kib": settings.PASSWORD_HASH_MEMORY_KIB,
        "parallelism": settings.PASSWORD_HASH_PARALLELISM,
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.mode = SMOKE if args.smoke else FULL
        self.out: Path = args.out
        self.skip_scale: bool = args.skip_scale
        self.timeout_s: int = args.timeout
        self.profile_ids: set[str] = {p.strip() for p in args.profile.split(",") if p.strip()}
        self.servers: list[str] = [n.strip() for n in args.servers.split(",") if n.strip()]
        unknown = set(self.servers) - set(SERVERS)
        if unknown or not self.servers:
            raise HarnessError(f"--servers: choose among {', '.join(SERVERS)}")
        self.server = self.servers[0]
        self.dblimit: WrkResult | None = None
        self.dblimit_cpu_ms = 0.0
        self.walks: dict[int, CursorWalk] = {}
        self.warmup_walk: CursorWalk | None = None
        self.wrk: Wrk | None = None
        self.app: Server | None = None
        self.ceiling_rps = 0.0
        self.ceiling_cpu_ms = 0.0
        self.results: list[report.ScenarioResult] = []
        self.profiles: dict[str, dict[str, Any]] = {}
        self.db: Database | None = None

    # plumbing ---------------------------------------------------------------------------------

    def load(self, connections: int = CONNECTIONS, duration: int | None = None) -> Load:
        return Load(THREADS, connections, duration or self.mode.duration_s, self.timeout_s)

    @property
    def base_url(self) -> str:
        if self.app is None:
            raise HarnessError("the app is not running")
        return self.app.base_url

    def _wrk(self) -> Wrk:
        if self.wrk is None:
            raise HarnessError("wrk is not set up")
        return self.wrk

    def expect(self, method: str, path: str, status: int, **kwargs: Any) -> httpx.Response:
        """One request before a scenario: it must get the status the scenario expects."""
        response = httpx.request(method, self.base_url + path, timeout=30, **kwargs)
        if response.status_code != status:
            raise HarnessError(
                f"{method} {path}: expected {status}, got {response.status_code}: "
                f"{response.text[:300]}"
            )
        return response

    def prime_cache(self, path: str, seconds: float = 20) -> None:
        """GET until the response cache answers (X-Cache: HIT): a write fence may still stand
        from the data loading (CACHE_WRITE_FENCE_SECONDS)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.expect("GET", path, 200).headers.get("x-cache") == "HIT":
                return
            time.sleep(0.25)
        raise HarnessError(f"GET {path} is never served from the cache")

    def token(self) -> str:
        """A fresh access token for 'bench' (one login; tokens last 30 minutes)."""
        return loader.login_sync(self.base_url, "bench")

    def measure(self, spec: Spec, *, warmup: bool = True) -> report.ScenarioResult:
        wrk = self._wrk()
        url = self.base_url + spec.path
        shown = spec.shown_path or spec.path
        log(
            f"{spec.id}: {spec.title}: {spec.method} {shown}, {spec.load.connections} connections, "
            f"{spec.load.duration_s} s"
        )
        loadavg = round(os.getloadavg()[0], 2)

        def env_of(walk: CursorWalk | None) -> dict[str, str]:
            return {**spec.env, **(walk.env() if walk else {})}

        if warmup and self.mode.warmup_s:
            warm = replace(spec.load, duration_s=self.mode.warmup_s)
            done = wrk.run(url, warm, spec.script, env_of(spec.warmup_walk))
            if spec.warmup_walk:
                spec.warmup_walk.consumed(done.requests, warm.connections)
        before = self.cpu_snapshot()
        result = wrk.run(url, spec.load, spec.script, env_of(spec.walk))
        cpu = self.cpu_used(before, result)
        if spec.walk:
            spec.walk.consumed(result.requests, spec.load.connections)
        return self.record(spec, result, loadavg, cpu)

    def warm_up(self, url: str, load: Load) -> None:
        if self.mode.warmup_s:
            self._wrk().run(url, replace(load, duration_s=self.mode.warmup_s))

    def cpu_snapshot(self) -> tuple[float, dict[int, float]]:
        """CPU time used so far by the app's workers, and by each PostgreSQL backend serving
        the bench database (the harness's own connection left out)."""
        if self.app is None or self.db is None:
            raise HarnessError("the app is not running")
        pids = asyncio.run(
            self.db.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return self.app.cpu_seconds(), {int(pid): cpu_seconds(int(pid)) for pid in pids}

    def cpu_used(
        self, before: tuple[float, dict[int, float]], result: WrkResult
    ) -> dict[str, float]:
        """CPU milliseconds per request in the workers and in PostgreSQL over one run: unlike
        requests/s, barely moved by other work on the machine. Backends that closed during the
        run are missed, so the PostgreSQL figure is a lower bound."""
        workers, backends = self.cpu_snapshot()
        db_seconds = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in backends.items())
        app_seconds = workers - before[0]
        requests = max(result.requests, 1)
        return {
            "app_cpu_ms_per_request": round(1000 * app_seconds / requests, 3),
            "db_cpu_ms_per_request": round(1000 * max(db_seconds, 0.0) / requests, 3),
            "app_cpu_cores_busy": round(app_seconds / max(result.duration_s, 0.001), 2),
        }

    def record(
        self,
        spec: Spec,
        result: WrkResult,
        loadavg: float,
        cpu: dict[str, float],
        background: WrkResult | None = None,
    ) -> report.ScenarioResult:
        if self.app is None:
            raise HarnessError("the app is not running")
        run = report.ScenarioResult(
            id=spec.id,
            title=spec.title,
            method=spec.method,
            path=spec.shown_path or spec.path,
            load=spec.load,
            result=result,
            ceiling_rps=self.ceiling_rps,
            memory=self.app.memory(),
            loadavg=loadavg,
            extra=dict(spec.extra),
            background=background,
            cpu=cpu,
            server=self.server,
            dblimit_rps=self.dblimit.rps if self.dblimit else 0.0,
        )
        self.results.append(run)
        counters = ", ".join(f"{k} {v}" for k, v in result.counters.items())
        of_limit = f", {run.pct_of_dblimit:.1f} % of the database limit" if spec.id == "S1" else ""
        log(
            f"    {result.rps:,.0f} req/s ({run.pct_of_ceiling:.1f} % of ceiling{of_limit}), "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
            f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}, "
            f"CPU/request: app {cpu['app_cpu_ms_per_request']:.2f} ms, "
            f"PostgreSQL {cpu['db_cpu_ms_per_request']:.2f} ms"
            + (f" [{counters}]" if counters else "")
        )
        if spec.id in self.profile_ids:
            self.profile(spec)
        return run

    def profile(self, spec: Spec) -> None:
        """Drive the scenario again while py-spy samples every worker (speedscope JSON)."""
        if self.app is None:
            raise HarnessError("the app is not running")
        spy = shutil.which("py-spy") or str(venv_tool("py-spy"))
        target = self.out / f"profile-{spec.id}-{self.server}.speedscope.json"
        seconds = max(spec.load.duration_s, 5)
        argv = [
            spy,
            "record",
            "--pid",
            str(self.app.pid),
            "--subprocesses",
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--format",
            "speedscope",
            "--output",
            str(target),
        ]
        log(f"    profiling {spec.id} for {seconds} s with py-spy -> {target}")
        spy_proc = subprocess.Popen(  # noqa: S603 - py-spy with arguments built here
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        time.sleep(1)
        env = {**spec.env, **(spec.walk.env() if spec.walk else {})}
        load = replace(spec.load, duration_s=seconds + 1)
        done = self._wrk().run(self.base_url + spec.path, load, spec.script, env)
        if spec.walk:
            spec.walk.consumed(done.requests, load.connections)
        try:
            output, _ = spy_proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy_proc.kill()
            output, _ = spy_proc.communicate()
        if spy_proc.returncode != 0 or not target.exists():
            raise HarnessError(f"py-spy failed ({spy_proc.returncode}):\n{output[-1500:]}")
        summary = profiler.summarize([target])

        def shares(counts: dict[str, float], limit: int | None = None) -> dict[str, float]:
            return {k: round(summary.share(v), 1) for k, v in profiler.top(counts, limit)}

        self.profiles[f"{spec.id}-{self.server}"] = {
            "file": target.name,
            "samples": summary.samples,
            "rps_while_profiled": done.rps,
            "threads_pct": shares(summary.threads),
            "layers_inclusive_pct": shares(summary.layers_inclusive),
            "layers_self_pct": shares(summary.layers_self),
            "app_inclusive_pct": shares(summary.app_inclusive, 15),
            "self_pct": shares(summary.self_time, 15),
        }
        summary_path = self.out / f"profile-{spec.id}-{self.server}.txt"
        summary_path.write_text(profiler.render(summary) + "\n")
        top = ", ".join(
            f"{k} {summary.share(v):.0f} %" for k, v in profiler.top(summary.layers_self, 6)
        )
        log(f"    self time by layer: {top}")

    # the run ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        mode = self.mode
        source = source_version()
        log(f"bench ({mode.name}) of {source}: results into {self.out}")
        busy = cpu_busy_fraction(1.0)
        loadavg_start = [round(x, 2) for x in os.getloadavg()]
        log(
            f"machine: {os.cpu_count()} CPUs, {100 * busy:.0f} % busy before the start, "
            f"load average {loadavg_start[0]:.2f}"
        )
        wrk_path = ensure_wrk()
        self.wrk = Wrk(wrk_path)
        app_exe = venv_tool("app")

        db = self.db = Database()
        redis = RedisDatabase()
        workdir = tempfile.TemporaryDirectory(prefix="bench-")
        cwd = Path(workdir.name)
        ceiling: WrkResult | None = None
        ceiling_memory: list[WorkerMemory] = []
        hash_rate: dict[str, Any] = {}
        final_memory: list[WorkerMemory] = []
        try:
            redis.claim()
            db.create()
            log(f"database {db.name}, Redis database {redis.number}")
            env = server_env(db.url, redis.url)
            run_quiet([str(app_exe), "migrate"], env=env, cwd=cwd)
            sizes = loader.Sizes(
                mode.bench_posts, mode.users, 0 if self.skip_scale else mode.scale_posts
            )
            for index, server in enumerate(self.servers):
                self.server = server
                self.app = self.start_app(app_exe, env, cwd)
                with running(self.app):
                    log(
                        f"app serve --server {server} --workers {WORKERS} on port "
                        f"{self.app.port}: workers {self.app.worker_pids()}"
                    )
                    if index == 0:
                        log("loading data")
                        loaded = asyncio.run(loader.load(self.base_url, db, sizes))
                        log(f"  data loaded in {loaded.seconds:.0f} s")
                        ceiling, ceiling_memory = self.measure_ceiling(env, cwd)
                        self.ceiling_rps = ceiling.rps
                        self.dblimit = self.measure_dblimit(env, cwd)
                    hash_rate = self.scenarios(loaded, db, env, hash_rate)
                    final_memory += self.app.memory()
        finally:
            if self.app is not None:
                self.app.stop()
            db.drop()
            redis.release()
            workdir.cleanup()
        # What else runs on the machine: measured with the bench's own processes stopped.
        busy_after = cpu_busy_fraction(1.0)

        rss_values = [m.rss_mib for run in self.results for m in run.memory]
        rss_values += [m.rss_mib for m in final_memory]
        max_rss = max(rss_values) if rss_values else None
        targets = {
            server: report.evaluate(
                [r for r in self.results if r.server == server],
                hash_rate.get("per_second"),
                max(
                    (m.rss_mib for r in self.results if r.server == server for m in r.memory),
                    default=None,
                ),
            )
            for server in self.servers
        }
        all_targets = [t for found in targets.values() for t in found]
        finished = time.time()
        loadavg_end = [round(x, 2) for x in os.getloadavg()]
        data: dict[str, Any] = {
            "mode": mode.name,
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "elapsed_s": round(finished - started, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "source": source,
                "wrk": wrk_version(wrk_path),
                "cpu_busy_before_start_pct": round(100 * busy, 1),
                "cpu_busy_after_end_pct": round(100 * busy_after, 1),
                "loadavg_start": loadavg_start,
                "loadavg_end": loadavg_end,
            },
            "settings": {
                "workers": WORKERS,
                "threads": THREADS,
                "connections": CONNECTIONS,
                "duration_s": mode.duration_s,
                "warmup_s": mode.warmup_s,
                "timeout_s": self.timeout_s,
                "login_connections": LOGIN_CONNECTIONS,
                "login_duration_s": mode.login_duration_s,
                "overload_connections": OVERLOAD_CONNECTIONS,
            },
            "data": dataclasses.asdict(loaded) | {"bench_post_ids": len(loaded.bench_post_ids)},
            "servers": self.servers,
            "dblimit": (self.dblimit.as_dict() if self.dblimit else {})
            | {"app_cpu_ms_per_request": self.dblimit_cpu_ms},
            "ceiling": (ceiling.as_dict() if ceiling else {})
            | {
                "worker_memory": [m.as_dict() for m in ceiling_memory],
                "app_cpu_ms_per_request": self.ceiling_cpu_ms,
            },
            "hash_rate": hash_rate,
            "scenarios": [run.as_dict() for run in self.results],
            "worker_memory": [m.as_dict() for m in final_memory],
            "max_worker_rss_mib": max_rss,
            "targets": {server: [t.as_dict() for t in found] for server, found in targets.items()},
            "targets_passed": sum(t.passed for t in all_targets),
            "targets_missed": sum(not t.passed for t in all_targets),
            "profiles": self.profiles,
        }
        if ceiling is None:
            raise HarnessError("the ceiling was not measured")
        text = report.render(
            ceiling,
            self.dblimit,
            self.results,
            targets,
            final_memory,
            ceiling_memory,
            hash_rate.get("per_second"),
            self.ceiling_cpu_ms,
            self.dblimit_cpu_ms,
        )
        header = (
            f"bench {mode.name} of {source}, {_iso(started)}, {os.cpu_count()} CPUs; "
            f"other work on the machine: CPUs {100 * busy:.0f} % busy before the start, "
            f"{100 * busy_after:.0f} % after the end "
            f"(load average {loadavg_start[0]:.2f} at the start)"
        )
        log("")
        log(header)
        log(text)
        report.write_json(self.out / "results.json", data)
        (self.out / "results.txt").write_text(header + "\n\n" + text + "\n")
        drawn = report.chart(
            self.out / "results.png",
            ceiling,
            self.results,
            f"bench {mode.name} of {source}, {_iso(started)}, {os.cpu_count()} CPUs "
            f"({100 * busy:.0f} % busy before, {100 * busy_after:.0f} % after, without the bench)"
            f"\n{WORKERS} workers under {' and '.join(self.servers)}; wrk {THREADS} threads, "
            f"{CONNECTIONS} connections unless noted",
        )
        log("")
        log(f"wrote {self.out / 'results.json'}, results.txt" + (", results.png" if drawn else ""))
        return data

    def start_app(self, app_exe: Path, env: dict[str, str], cwd: Path) -> Server:
        port = free_port()
        argv = [str(app_exe), "serve", "--server", self.server, "--host", HOST, "--port", str(port)]
        argv += ["--workers", str(WORKERS)]
        log_path = self.out / f"app-server-{self.server}.log"
        return Server("app", argv, env, port, WORKERS, log_path, cwd)

    def measure_dblimit(self, env: dict[str, str], cwd: Path) -> WrkResult:
        """S1's query alone (bench/dblimit.py), served as the ceiling is."""
        server = self.yardstick("dblimit", env, cwd)
        wrk = self._wrk()
        load = self.load()
        url = server.base_url + "/user/bench"
        with running(server):
            log(
                f"database limit: Starlette + asyncpg, S1's query, {WORKERS} workers: "
                f"GET /user/bench, {load.connections} connections, {load.duration_s} s"
            )
            self.warm_up(url, load)
            before = server.cpu_seconds()
            result = wrk.run(url, load)
            self.dblimit_cpu_ms = round(
                1000 * (server.cpu_seconds() - before) / max(result.requests, 1), 3
            )
        log(
            f"    {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
            f" non-2xx {result.non_2xx}, socket errors {result.socket_errors}, "
            f"app CPU/request {self.dblimit_cpu_ms:.2f} ms"
        )
        if result.successful == 0 or result.non_2xx:
            raise HarnessError("the database limit app did not answer S1's request")
        return result

    def yardstick(self, module: str, env: dict[str, str], cwd: Path) -> Server:
        """`python -m bench.<module>` under uvicorn with the app's settings (the ceiling's)."""
        port = free_port()
        yard_env = dict(env)
        yard_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
        )
        argv = [sys.executable, "-m", f"bench.{module}", "--host", HOST, "--port", str(port)]
        argv += ["--workers", str(WORKERS)]
        return Server(module, argv, yard_env, port, WORKERS, self.out / f"{module}.log", cwd)

    def measure_ceiling(
        self, env: dict[str, str], cwd: Path
    ) -> tuple[WrkResult, list[WorkerMemory]]:
        server = self.yardstick("ceiling", env, cwd)
        wrk = self._wrk()
        load = self.load()
        with running(server):
            log(
                f"ceiling: Starlette, one fixed JSON route, {WORKERS} workers: GET /, "
                f"{load.connections} connections, {load.duration_s} s"
            )
            self.warm_up(server.base_url + "/", load)
            before = server.cpu_seconds()
            result = wrk.run(server.base_url + "/", load)
            self.ceiling_cpu_ms = round(
                1000 * (server.cpu_seconds() - before) / max(result.requests, 1), 3
            )
            memory = server.memory()
        log(
            f"    {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
            f" non-2xx {result.non_2xx}, socket errors {result.socket_errors}"
        )
        if result.successful == 0:
            raise HarnessError("the ceiling app answered no request")
        return result, memory

    def scenarios(
        self, loaded: loader.Loaded, db: Database, env: dict[str, str], hash_rate: dict[str, Any]
    ) -> dict[str, Any]:
        """Every scenario under the running server; the Argon2id rate is measured once."""
        mode = self.mode
        user_path = f"{API}/user/bench"

        # S1: a public profile: one query, no cache.
        self.expect("GET", user_path, 200)
        s1 = Spec("S1", "user profile (public)", "GET", user_path, self.load())
        self.measure(s1)

        # S2: the signed-in user: JWT decode and the token's user (one query).
        token = self.token()
        self.expect("GET", f"{API}/user/me/", 200, headers={"Authorization": f"Bearer {token}"})
        self.measure(
            Spec(
                "S2",
                "me (Bearer)",
                "GET",
                f"{API}/user/me/",
                self.load(),
                env={"BENCH_TOKEN": token},
            )
        )

        # S3, S4: served from the response cache (Redis).
        posts_path = f"{API}/bench/posts?page=1&items_per_page=10"
        self.prime_cache(posts_path)
        cached = {"BENCH_COUNT_CACHE": "1"}
        self.measure(Spec("S3", "posts page (cached)", "GET", posts_path, self.load(), env=cached))
        post_path = f"{API}/bench/post/{loaded.bench_post_ids[0]}"
        self.prime_cache(post_path)
        self.measure(Spec("S4", "one post (cached)", "GET", post_path, self.load(), env=cached))

        # S5: a write: rate limiter, insert, commit, cache invalidation.
        token = self.token()
        body = '{"title": "Bench write", "text": "A post written by the bench (S5)."}'
        write_env = {
            "BENCH_METHOD": "POST",
            "BENCH_BODY": body,
            "BENCH_CONTENT_TYPE": "application/json",
            "BENCH_TOKEN": token,
        }
        self.expect(
            "POST",
            f"{API}/bench/post",
            201,
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        self.measure(
            Spec(
                "S5",
                "create post (Bearer)",
                "POST",
                f"{API}/bench/post",
                self.load(),
                env=write_env,
            )
        )

        # S6: an offset page deep in the users: count plus OFFSET.
        users_path = f"{API}/users?page={mode.users_page}&items_per_page=10"
        page = self.expect("GET", users_path, 200).json()
        if len(page.get("data", [])) != 10:
            raise HarnessError(f"GET {users_path} returned {len(page.get('data', []))} users")
        self.measure(Spec("S6", f"users page {mode.users_page}", "GET", users_path, self.load()))

        # S7: login, bound by Argon2id; compared with what the hash allows on this machine.
        if not hash_rate:
            log(
                f"measuring Argon2id: {mode.hash_verifications} verifications on "
                f"{os.cpu_count()} threads"
            )
            hash_rate = measure_hash_rate(env, mode.hash_verifications)
            log(f"    {hash_rate['per_second']:,.1f} verifications/s")
        form = f"username=bench&password={loader.PASSWORD}"
        login_env = {
            "BENCH_METHOD": "POST",
            "BENCH_BODY": form,
            "BENCH_CONTENT_TYPE": "application/x-www-form-urlencoded",
        }
        self.expect(
            "POST",
            f"{API}/login",
            200,
            content=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        login_load = self.load(LOGIN_CONNECTIONS, mode.login_duration_s)
        self.measure(
            Spec(
                "S7",
                "login (Argon2id)",
                "POST",
                f"{API}/login",
                login_load,
                env=login_env,
                extra={"hash_rate_per_second": hash_rate["per_second"]},
            )
        )

        # S8: S1 while logins run: does hashing in threads hurt the event loop?
        s8 = Spec("S8", "S1 during S7 logins", "GET", user_path, self.load())
        log(
            f"S8: {s8.title}: GET {user_path}, {CONNECTIONS} connections, {mode.duration_s} s, "
            f"with POST {API}/login at {LOGIN_CONNECTIONS} connections"
        )
        loadavg = round(os.getloadavg()[0], 2)
        wrk = self._wrk()
        background_load = self.load(LOGIN_CONNECTIONS, mode.duration_s + 2)
        background = wrk.start(self.base_url + f"{API}/login", background_load, env=login_env)
        time.sleep(1)
        before = self.cpu_snapshot()
        result = wrk.run(self.base_url + user_path, s8.load)
        cpu = self.cpu_used(before, result)  # the logins' CPU is in it too
        logins = wrk.finish(background, background_load)
        log(
            f"    logins meanwhile: {logins.rps:,.1f} req/s, non-2xx {logins.non_2xx}, "
            f"socket errors {logins.socket_errors}"
        )
        s8.extra = {"concurrent_login": logins.as_dict()}
        self.record(s8, result, loadavg, cpu, background=logins)

        # S9: cursor pages at three depths of the 1,000,000-post list.
        if loaded.scale_user_id is not None:
            self.cursor_pages(loaded, db)

        # S10: S1 overloaded. At least as long as wrk's timeout, so every request is either
        # answered or counted as timed out (a one-second smoke run on a busy machine could end
        # before the first of 512 connections got its answer, and count nothing at all).
        overload = self.load(OVERLOAD_CONNECTIONS, max(self.mode.duration_s, self.timeout_s))
        count_503 = {"BENCH_COUNT_503": "1"}
        s10 = Spec("S10", "S1 at 512 connections", "GET", user_path, overload, env=count_503)
        self.measure(s10)
        return hash_rate

    def cursor_pages(self, loaded: loader.Loaded, db: Database) -> None:
        from app.core.pagination import encode_cursor

        author = loaded.scale_user_id
        list_path = f"{API}/scale/posts"

        def scale_id(offset: int = 0, below: int = 2**31 - 1) -> int:
            """The id of the scale list's row (newest first) at `offset` among the rows with
            ids below `below`."""
            rows = asyncio.run(
                db.execute(
                    "SELECT id FROM posts WHERE created_by_user_id = :author "
                    "AND is_deleted = false AND id < :below ORDER BY id DESC "
                    "OFFSET :offset LIMIT 1",
                    params={"author": author, "offset": offset, "below": below},
                )
            )
            if not rows:
                raise HarnessError(f"the scale list has no row at offset {offset} below {below}")
            return int(rows[0])

        def id_at(offset: int) -> int:
            return scale_id(offset)

        def first_below(cursor_id: int) -> int:
            return scale_id(below=cursor_id)

        newest = id_at(0)
        # The cursor the API hands out for page 2 names the last row of page 1.
        first = self.expect("GET", f"{list_path}?limit=10", 200).json()
        if first.get("next_cursor") != encode_cursor(id_at(9)):
            raise HarnessError(
                "the API's cursor is not encode_cursor(last id of the page): "
                f"{first.get('next_cursor')!r}; the bench's cursor scheme needs updating"
            )
        # Warm-ups use cursors far above the newest id (each is page 1, never repeated). The
        # walks go on from one server's runs to the next: no cursor is sent twice.
        if self.warmup_walk is None:
            self.warmup_walk = CursorWalk(newest + 1 + 1_000_000_000, +1)
        warmup_walk = self.warmup_walk
        for page in self.mode.cursor_pages:
            if page == 1:
                walk = self.walks.setdefault(page, CursorWalk(newest + 1, +1))
            else:
                walk = self.walks.setdefault(page, CursorWalk(id_at(10 * (page - 1) - 1), -1))
            first_id = first_below(walk.next)
            probe = self.expect(
                "GET", f"{list_path}?limit=10&cursor={encode_cursor(walk.next)}", 200
            ).json()
            if not probe["data"] or probe["data"][0]["id"] != first_id:
                raise HarnessError(f"cursor page {page} does not start at post {first_id}")
            walk.next += walk.step  # the probe used that cursor: it is cached now
            env = {"BENCH_PATH": f"{list_path}?limit=10&cursor="}
            spec = Spec(
                f"S9-p{page}",
                f"cursor page {page:,}",
                "GET",
                list_path,
                self.load(),
                script="cursor",
                env=env,
                walk=walk,
                warmup_walk=warmup_walk,
                shown_path=f"{list_path}?limit=10&cursor=<page {page:,}>",
                extra={"page": page, "first_cursor_id": walk.next},
            )
            self.measure(spec)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the API as production serves it (see bench/README.md).",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny data, 2 s per scenario: checks that the harness works",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results",
        help="where results.json, results.txt and results.png go (default: bench/results)",
    )
    parser.add_argument(
        "--skip-scale", action="store_true", help="no 1,000,000-post insert and no S9"
    )
    parser.add_argument(
        "--profile",
        default="",
        metavar="IDS",
        help="comma-separated scenarios (e.g. S1,S2,S5,S6) to run once more "
        "under py-spy; writes profile-<id>.speedscope.json",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        metavar="NAMES",
        help=f"the HTTP servers to run every scenario under, in order (default: "
        f"{','.join(SERVERS)}; the first also serves the data loading)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=5,
        help="seconds before wrk counts a request as a timeout (default 5)",
    )
    return parser.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        data = Bench(args).run()
    except HarnessError as exc:
        print(f"bench: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    if args.smoke:
        empty = [s["id"] for s in data["scenarios"] if s["successful"] <= 0]
        if empty or not data["ceiling"].get("successful"):
            print(f"bench: error: no successful request in {empty or ['ceiling']}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
