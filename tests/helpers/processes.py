"""Commands run the way a user runs them: the installed `app` (and `alembic`) as processes of
their own, in a clean environment and working directory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

BIN = Path(sys.executable).parent
APP = str(BIN / "app")
ALEMBIC = str(BIN / "alembic")
# What a process needs from the outer environment to run at all; nothing of the app's.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**values: object) -> dict[str, str]:
    """An environment with none of this process's settings, plus `values` (None: left out)."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update({name: str(value) for name, value in values.items() if value is not None})
    return env


def run(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; its output as text."""
    return subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def run_app(
    *args: str, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`app ARGS...` as a user types it."""
    return run([APP, *args], cwd=cwd, env=env, timeout=timeout)


class Process:
    """A long-running command (a server, a worker) with its output in a log file.

    with Process("serve", [APP, "serve", "--port", str(port)], cwd=tmp_path, env=env) as p:
        p.wait_for_http(f"http://127.0.0.1:{port}/health")
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        other_logs: Sequence[Path] = (),
    ) -> None:
        """`other_logs`: files the command writes its log to besides its output (nginx's
        error log), shown with the output."""
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self.other_logs = list(other_logs)
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """What the process has written so far (its output, then its other logs)."""
        text = self.log_path.read_text(errors="replace")
        for path in self.other_logs:
            other = path.read_text(errors="replace") if path.exists() else "(no file)"
            text += f"\n----- {path.name} -----\n{other}"
        return text

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout: float = 30, every: float = 0.1
    ) -> None:
        """Poll `ready` until it is true; fail with the log if the process dies or time runs
        out first."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if ready():
                    return
            assert self.alive(), f"{self.name} exited before {what}:\n{self.log()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.log()}"
            time.sleep(every)

    def wait_for_http(self, url: str, timeout: float = 30) -> None:
        self.wait_until(lambda: httpx.get(url, timeout=2).status_code == 200, url, timeout)

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        self.wait_until(lambda: needle in self.log(), f"{needle!r} in its log", timeout, 0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and wait; killed if still alive after `timeout`. The exit code."""
        try:
            if self.alive():
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            self._log.close()
        return self.process.returncode

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TcpRelay:
    """Relays every connection to 127.0.0.1:`port` to `target`, in a thread of its own, from
    `__enter__` to `__exit__`: before it starts, the port refuses connections, as a server
    that is still starting does.

    with TcpRelay(port, ("127.0.0.1", 5432)):
        ...  # 127.0.0.1:port now reaches PostgreSQL
    """

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    def __enter__(self) -> TcpRelay:
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class DroppingPort:
    """Listens on 127.0.0.1:`port` and closes every connection as soon as it is made, counting
    them, from `__enter__` to `__exit__`: a server that is down, whose clients' attempts to
    reach it a test can count.

    with DroppingPort(port) as port_of_a_dead_server:
        ...  # port_of_a_dead_server.connections
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.settimeout(0.05)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._drop, daemon=True)

    def _drop(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            connection.close()
            self.connections += 1

    def __enter__(self) -> DroppingPort:
        self._socket.bind(("127.0.0.1", self.port))
        self._socket.listen(16)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(timeout=10)
        self._socket.close()
