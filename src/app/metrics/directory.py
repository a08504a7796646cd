"""Where the processes of `app serve` write their values (prometheus_client's multiprocess
mode), and the worker's opting out of it. Imported by `app serve`'s parent process, which
must not import prometheus_client itself: nothing here does."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Final

from app.core.commands import CommandFailed
from app.core.config import Settings
from app.metrics.settings import MetricsSettings

# Each process writes its values into this directory, and /metrics adds them up. Read when
# prometheus_client is imported, so it is set before the server processes import the app.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def metrics_directory(settings: Settings) -> Iterator[None]:
    """The server processes' metrics directory while they run: METRICS_DIR, emptied of an
    earlier run's values, or a new temporary directory, removed at the end."""
    own = settings.feature(MetricsSettings)
    if not own.METRICS_ENABLED:
        os.environ.pop(MULTIPROC_ENV, None)
        yield
        return
    if own.METRICS_DIR is not None:
        directory = own.METRICS_DIR.resolve()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob("*.db"):  # what prometheus_client writes there
                stale.unlink()
        except OSError as exc:
            raise CommandFailed(f"cannot use METRICS_DIR={directory}: {exc}") from None
        os.environ[MULTIPROC_ENV] = str(directory)
        yield
        return
    directory = Path(tempfile.mkdtemp(prefix="app-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)

    def remove_then_stop(signum: int, frame: FrameType | None) -> None:
        # uvicorn (one process) ends by raising the signal it stopped on once more, so that
        # the exit status tells it: by then the `finally` below would never run.
        shutil.rmtree(directory, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    previous = signal.signal(signal.SIGTERM, remove_then_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(directory, ignore_errors=True)
