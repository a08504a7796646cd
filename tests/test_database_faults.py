"""PostgreSQL failing under load. The process tests run `app serve` in production mode with two
worker processes on a PostgreSQL server of each test's own (tests/helpers/postgres.py), which
they restart or stop while keep-alive clients send requests: no answer is a 500, no connection
is dropped, every failure is a 503 with Retry-After logged on one line without a traceback, and
each process answers again on its own once the database is back. The first test needs no server
of its own: on the run's database, it ends the sessions of its app's pooled connections, as a
restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from app.core.state import resources_of
from tests.helpers.database import execute
from tests.helpers.features import needs
from tests.helpers.http import API, AppClientFactory, bearer, login, register
from tests.helpers.postgres import PrivatePostgres, private_postgres
from tests.helpers.processes import APP, Process, free_port, run_app
from tests.helpers.settings import PASSWORD, TEST_SECRET_KEY, app_env

DATABASE_UNAVAILABLE_LOG = "database unavailable during"
WORKERS = 2
CLIENTS = 6
STARTUP_SECONDS = 60.0
# Load before and after each fault.
LOAD_SECONDS = 2.0
# A client's pause between requests: load, without starving the other tests of the machine.
PAUSE_SECONDS = 0.002
# Connections of the app's pool whose sessions the in-process test ends.
ENDED = 8


async def _end_pooled_sessions(app: FastAPI, database_url: str) -> None:
    """Fill the app's pool with ENDED connections, then end their sessions from outside, as a
    database restart ends them: the pool holds them, dead. (Only the app's own: the run's
    other apps share the database.)"""
    engine = resources_of(app).engine
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(engine.connect()) for _ in range(ENDED)]
        pids = [await connection.scalar(text("SELECT pg_backend_pid()")) for connection in held]
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedin() == ENDED  # every connection of the pool is one of them
    ended = await execute(
        database_url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid = ANY(:pids)",
        pids=pids,
    )
    assert ended == ENDED


@needs("posts")
async def test_reads_and_writes_survive_their_connections_being_ended(
    app_client: AppClientFactory, database_url: str
) -> None:
    async with app_client() as client:
        await register(client, "alice")
        headers = bearer(await login(client, "alice"))
        await _end_pooled_sessions(client.app, database_url)
        # The first read meets an ended connection and runs again on a fresh one; the pool's
        # other connections, as old, are replaced as they are taken.
        for path in (f"{API}/users", f"{API}/user/alice", f"{API}/user/me/"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text

        await _end_pooled_sessions(client.app, database_url)
        # A write is not run again: it may be a 503, never a 500; the next one succeeds.
        post = {"title": "After", "text": "the connections were ended"}
        first = await client.post(f"{API}/alice/post", json=post, headers=headers)
        assert first.status_code in (201, 503), first.text
        if first.status_code == 503:
            assert first.headers["retry-after"]
            assert first.json()["detail"].startswith("Database unavailable")
        second = await client.post(f"{API}/alice/post", json=post, headers=headers)
        assert second.status_code == 201, second.text
        assert (await client.get(f"{API}/users")).status_code == 200
        # Readiness is about the database now, not about a connection it ended before.
        await _end_pooled_sessions(client.app, database_url)
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        # Every connection, the discarded ones included, went back to the pool.
        pool = resources_of(client.app).engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == 0


# --- a served app on a server of the test's own ----------------------------------------------


@dataclass
class Served:
    """`app serve` on a private PostgreSQL server, with a user (alice) signed in."""

    url: str
    postgres: PrivatePostgres
    server: Process
    headers: dict[str, str]

    def logs(self, title: str) -> str:
        return (
            f"{title}\n----- app serve -----\n{self.server.log()[-6000:]}"
            f"\n----- postgres -----\n{self.postgres.log()[-2000:]}"
        )


def _served_env(database_url: str) -> dict[str, str]:
    return app_env(
        database_url,
        ENVIRONMENT="production",
        SECRET_KEY=TEST_SECRET_KEY,
        ADMIN_PASSWORD="Another-admin-pass-9",
        EMAIL_VERIFICATION_ENABLED="false",
        PASSWORD_RESET_ENABLED="false",
        DEFAULT_RATE_LIMIT_LIMIT=1_000_000,
        LOGIN_RATE_LIMIT_LIMIT=1_000,
        LOGIN_ACCOUNT_RATE_LIMIT_LIMIT=1_000,
        LOG_LEVEL="INFO",
    )


def _instances(url: str, count: int, seconds: float) -> set[str]:
    """Until `count` processes have answered /health, each on a new connection."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {sorted(seen)} of {count} processes answer"
        seen.add(httpx.get(f"{url}/health", timeout=5).json()["instance"])
    return seen


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with private_postgres() as postgres:
        env = _served_env(postgres.url)
        migrated = run_app("migrate", cwd=tmp_path, env=env)
        assert migrated.returncode == 0, migrated.stderr
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [APP, "serve", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(WORKERS)]
        with Process("serve", argv, cwd=tmp_path, env=env) as server:
            server.wait_for_http(f"{url}/health", timeout=STARTUP_SECONDS)
            _instances(url, WORKERS, STARTUP_SECONDS)

            async def sign_in() -> dict[str, str]:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    await register(client, "alice")
                    return bearer(await login(client, "alice", PASSWORD))

            yield Served(url, postgres, server, asyncio.run(sign_in()))


Request = tuple[str, str, dict[str, Any]]


def _reads(headers: dict[str, str]) -> list[Request]:
    return [
        ("GET", f"{API}/users", {}),
        ("GET", f"{API}/user/alice", {}),
        ("GET", f"{API}/user/me/", {"headers": headers}),
    ]


def _writes(headers: dict[str, str]) -> list[Request]:
    post = {"title": "Under load", "text": "written while the database fails"}
    return [("POST", f"{API}/alice/post", {"json": post, "headers": headers})]


@dataclass
class Tally:
    """What the clients saw: answers by status and by process, dropped connections, and when
    the failures were sent."""

    statuses: Counter[int] = field(default_factory=Counter)
    by_instance: dict[str, Counter[int]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # When the requests answered with something other than a success were sent.
    failures: list[float] = field(default_factory=list)
    # For each process, when it first answered a success sent after the database was back.
    healed: dict[str, float] = field(default_factory=dict)
    fault_at: float = 0.0
    back_at: float | None = None

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + len(self.dropped)

    def record(self, instance: str, sent_at: float, response: httpx.Response) -> None:
        status = response.status_code
        self.statuses[status] += 1
        self.by_instance.setdefault(instance, Counter())[status] += 1
        if status in (200, 201):
            back = self.back_at
            if back is not None and sent_at >= back and instance not in self.healed:
                self.healed[instance] = time.monotonic()
            return
        self.failures.append(sent_at)
        if status != 503:
            self.unexpected.append(
                f"{response.request.method} {response.request.url.path}: "
                f"{status} {response.text[:200]}"
            )
        elif not response.headers.get("retry-after") or "detail" not in response.json():
            self.unexpected.append(f"a 503 without Retry-After or detail: {response.headers}")

    def failed_after_back(self) -> int:
        """Requests sent once the database was back that did not succeed."""
        assert self.back_at is not None
        return sum(1 for at in self.failures if at >= self.back_at)

    def recovery_seconds(self) -> float:
        """From the database being back to the first success of the last process to heal."""
        assert self.back_at is not None
        return max([0.0, *(at - self.back_at for at in self.healed.values())])

    def summary(self) -> str:
        assert self.back_at is not None
        processes = {name[-8:]: dict(counts) for name, counts in self.by_instance.items()}
        window = (
            f"sent {min(self.failures) - self.fault_at:.2f} to "
            f"{max(self.failures) - self.fault_at:.2f} s after the fault began"
            if self.failures
            else "none"
        )
        return (
            f"{self.sent} requests: {dict(sorted(self.statuses.items()))}, "
            f"{len(self.dropped)} dropped; by process {processes}; "
            f"database back {self.back_at - self.fault_at:.2f} s after the fault began; "
            f"failures {window}, {self.failed_after_back()} sent after it was back; "
            f"every process answered a success {self.recovery_seconds():.2f} s after"
        )


async def _pinned_client(url: str, pinned: Counter[str], share: int) -> httpx.AsyncClient:
    """A client whose one keep-alive connection reaches a process that has fewer than `share`
    clients yet (new connections go to either process: those to a full one are closed)."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    deadline = time.monotonic() + 30
    while True:
        client = httpx.AsyncClient(base_url=url, timeout=30, limits=limits)
        instance = (await client.get("/health")).json()["instance"]
        if pinned[instance] < share:
            pinned[instance] += 1
            return client
        await client.aclose()
        assert time.monotonic() < deadline, f"cannot spread the clients: {pinned}"


async def _client(
    client: httpx.AsyncClient,
    requests: list[Request],
    tally: Tally,
    stop: asyncio.Event,
    start: int,
) -> None:
    """Sends `requests` in turn on the client's keep-alive connection (reopened only if the
    server drops it); /health on the same connection tells which process answers."""
    turn = start
    while not stop.is_set():
        method, path, options = requests[turn % len(requests)]
        turn += 1
        try:
            instance = (await client.get("/health")).json()["instance"]
            sent_at = time.monotonic()
            response = await client.request(method, path, **options)
        except httpx.TransportError as exc:
            tally.dropped.append(f"{method} {path}: {exc!r}")
            continue
        tally.record(instance, sent_at, response)
        await asyncio.sleep(PAUSE_SECONDS)


async def _under_load(
    served: Served, requests: list[Request], fault: Callable[[], None], processes: int = WORKERS
) -> Tally:
    """Clients send `requests` for a while, then `fault` runs (in a thread, the load going on)
    and returns once the database is up again; the load goes on until every process has
    answered a success since, and for a while after."""
    tally = Tally()
    stop = asyncio.Event()
    pinned: Counter[str] = Counter()
    share = CLIENTS // processes
    connected = await asyncio.gather(
        *(_pinned_client(served.url, pinned, share) for _ in range(share * processes))
    )
    clients = [
        asyncio.create_task(_client(client, requests, tally, stop, start))
        for start, client in enumerate(connected)
    ]
    try:
        await asyncio.sleep(LOAD_SECONDS)
        assert len(tally.by_instance) == processes, served.logs(
            f"the load reached {len(tally.by_instance)} of {processes} processes"
        )
        tally.fault_at = time.monotonic()
        await asyncio.to_thread(fault)
        tally.back_at = time.monotonic()
        deadline = tally.back_at + 30
        while len(tally.healed) < processes:
            assert time.monotonic() < deadline, served.logs(f"no recovery: {tally.summary()}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(LOAD_SECONDS)
    finally:
        stop.set()
        await asyncio.gather(*clients)
        for client in connected:
            await client.aclose()
    return tally


def _check_log(served: Served, tally: Tally) -> None:
    """Each 503 is one line of the log, and nothing there has a traceback."""
    log = served.server.log()
    assert "Traceback" not in log, served.logs("a traceback in the log")
    logged = log.count(DATABASE_UNAVAILABLE_LOG)
    assert logged == tally.statuses[503], served.logs(
        f"{logged} lines for {tally.statuses[503]} answers of 503"
    )


def _check(served: Served, tally: Tally) -> None:
    report = tally.summary()
    print(report)  # the figures, with -s
    assert not tally.dropped, served.logs(f"{report}\ndropped: {tally.dropped[:5]}")
    assert not tally.unexpected, served.logs(f"{report}\n{tally.unexpected[:5]}")
    assert set(tally.statuses) <= {200, 201, 503}, served.logs(report)
    _check_log(served, tally)


@pytest.mark.slow
@pytest.mark.parametrize("shutdown", [signal.SIGINT, signal.SIGQUIT], ids=["fast", "immediate"])
async def test_a_restart_under_reads_is_invisible(served: Served, shutdown: int) -> None:
    # fast: the sessions are ended with 57P01; immediate: as after a crash (57P02, recovery).
    tally = await _under_load(
        served, _reads(served.headers), lambda: served.postgres.restart(shutdown)
    )
    _check(served, tally)
    # Only the reads, and each one that met a connection the restart had ended ran again:
    # answers of 503 come from the moment the server was down, none from after it was back.
    assert tally.failed_after_back() == 0, served.logs(tally.summary())


@pytest.mark.slow
async def test_a_restart_under_reads_and_writes_is_never_a_500(served: Served) -> None:
    requests = _reads(served.headers) + _writes(served.headers)
    tally = await _under_load(served, requests, served.postgres.restart)
    _check(served, tally)
    assert tally.statuses[201] > 0, served.logs(tally.summary())
    # A write that meets an ended connection is not run again (it is a 503), but the pool is
    # renewed with it: no more than one per client.
    assert tally.failed_after_back() <= CLIENTS, served.logs(tally.summary())


@pytest.mark.slow
async def test_an_outage_is_503s_logged_once_each_then_recovery(served: Served) -> None:
    def outage() -> None:
        served.postgres.stop()
        time.sleep(10)  # the outage itself
        served.postgres.start()

    requests = _reads(served.headers) + _writes(served.headers)
    tally = await _under_load(served, requests, outage)
    _check(served, tally)
    # The outage was answered by 503s all along, none of them waiting long.
    assert tally.statuses[503] >= CLIENTS * 10, served.logs(tally.summary())
    # A write that meets an ended connection is not run again (it is a 503), but the pool is
    # renewed with it: no more than one per client.
    assert tally.failed_after_back() <= CLIENTS, served.logs(tally.summary())
    lines = [line for line in served.server.log().splitlines() if DATABASE_UNAVAILABLE_LOG in line]
    assert all("[-]" not in line for line in lines), served.logs("a 503 logged without its id")


@pytest.mark.slow
async def test_a_schema_that_does_not_match_is_a_500_logged_once(served: Served) -> None:
    # Not the database being unavailable but a bug (the code's columns are not the database's):
    # a 500, logged once with its traceback and request id, on a connection that stays open.
    await execute(served.postgres.url, "ALTER TABLE users RENAME COLUMN name TO full_name")
    connection = http.client.HTTPConnection("127.0.0.1", int(served.url.rsplit(":", 1)[1]))
    try:
        connection.request("GET", f"{API}/users", headers={"X-Request-ID": "bug-1"})
        failed = connection.getresponse()
        body = json.loads(failed.read())
        opened = connection.sock
        connection.request("GET", "/health")
        after = connection.getresponse()
        after.read()
        assert connection.sock is opened  # the same connection, not a new one
    finally:
        connection.close()
    assert failed.status == 500
    assert body == {"detail": "Internal server error"}
    assert not failed.will_close
    assert after.status == 200
    log = served.server.log()
    unhandled = [line for line in log.splitlines() if " unhandled " in line]
    assert len(unhandled) == 1, served.logs("the 500 is not logged once")
    assert "[bug-1] unhandled UndefinedColumnError during GET /api/v1/users" in unhandled[0]
    assert "Traceback" in log
    assert "Exception in ASGI application" not in log, served.logs("raised to the server")
