"""Running wrk with the bench's Lua scripts and reading the JSON line their done() prints."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.infra import HarnessError, raise_open_files_limit

LUA_DIR = Path(__file__).resolve().parent / "lua"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Load:
    """How hard and how long wrk drives one URL."""

    threads: int
    connections: int
    duration_s: int
    timeout_s: int


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def successful(self) -> int:
        return max(0, self.requests - self.non_2xx)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["socket_errors"] = self.socket_errors
        data["successful"] = self.successful
        return data

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> WrkResult:
        errors = raw["errors"]
        latency = raw["latency_us"]
        percentiles = latency["percentiles"]
        duration_s = float(raw["duration_us"]) / 1e6
        requests = int(raw["requests"])
        counters = {str(k): int(v) for k, v in raw.get("counters", {}).items()}
        # wrk counts responses with a status of 400 or more; the cursor script counts every
        # status outside 200-299 itself, which is stricter.
        non_2xx = max(int(errors["status"]), counters.get("non_2xx", 0))

        def ms(value: Any) -> float:
            return round(float(value) / 1000, 3)

        return cls(
            requests=requests,
            duration_s=round(duration_s, 3),
            rps=round(requests / duration_s, 1) if duration_s > 0 else 0.0,
            p50_ms=ms(percentiles["50"]),
            p75_ms=ms(percentiles["75"]),
            p90_ms=ms(percentiles["90"]),
            p99_ms=ms(percentiles["99"]),
            max_ms=ms(latency["max"]),
            mean_ms=ms(latency["mean"]),
            non_2xx=non_2xx,
            connect_errors=int(errors["connect"]),
            read_errors=int(errors["read"]),
            write_errors=int(errors["write"]),
            timeouts=int(errors["timeout"]),
            counters=counters,
        )


class Wrk:
    def __init__(self, binary: str) -> None:
        self.binary = binary

    def start(
        self, url: str, load: Load, script: str = "static", env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start one wrk run; `finish()` waits for it and parses its result."""
        argv = [
            self.binary,
            f"-t{load.threads}",
            f"-c{max(load.connections, load.threads)}",
            f"-d{load.duration_s}s",
            f"--timeout={load.timeout_s}s",
            "-s",
            str(LUA_DIR / f"{script}.lua"),
            url,
        ]
        child_env = {
            **os.environ,
            "BENCH_LUA_DIR": str(LUA_DIR),
            "BENCH_THREADS": str(load.threads),
            **(env or {}),
        }
        try:
            return subprocess.Popen(  # noqa: S603 - the wrk binary with arguments built here
                argv,
                env=child_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=raise_open_files_limit,
            )
        except OSError as exc:
            raise HarnessError(f"cannot start wrk: {exc}") from exc

    def finish(self, proc: subprocess.Popen[str], load: Load) -> WrkResult:
        try:
            out, err = proc.communicate(timeout=load.duration_s + load.timeout_s + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise HarnessError(f"wrk did not finish:\n{out[-1000:]}{err[-1000:]}") from None
        lines = [line for line in out.splitlines() if line.startswith(MARKER)]
        if proc.returncode != 0 or not lines:
            raise HarnessError(
                f"wrk exited {proc.returncode} without a result:\n{out[-1500:]}\n{err[-1500:]}"
            )
        try:
            return WrkResult.parse(json.loads(lines[-1][len(MARKER) :]))
        except (ValueError, KeyError) as exc:
            raise HarnessError(f"wrk printed an unreadable result ({exc}): {lines[-1]}") from exc

    def run(
        self, url: str, load: Load, script: str = "static", env: Mapping[str, str] | None = None
    ) -> WrkResult:
        return self.finish(self.start(url, load, script, env), load)
