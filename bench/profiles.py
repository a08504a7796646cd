"""Where the time goes: summarize py-spy speedscope profiles of the app's workers.

    python -m bench.profiles bench/results/profile-S1.speedscope.json [--top 25]

Prints, over the samples of every worker process in the file (py-spy leaves out idle ones,
such as the event loop waiting in epoll):
- time by layer, inclusive: the share of samples with a frame of that layer on the stack (a
  sample counts once per layer, so shares add up to more than 100 %);
- time by layer, self: the layer of the innermost frame;
- the app's own functions, inclusive;
- the innermost functions (self time).
Samples whose innermost frame only waits (an idle pool thread) are left out.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# First match wins; matched against "<file>:<function>".
LAYERS: list[tuple[str, str]] = [
    ("password hashing (argon2)", r"argon2|pwdlib|/app/platform/security\.py:_verify_sync"),
    ("JWT (PyJWT)", r"/jwt/"),
    ("rate limiter (limits)", r"/limits/"),
    ("Redis client (redis-py)", r"/redis/"),
    ("DB driver (asyncpg)", r"/asyncpg/"),
    ("SQLAlchemy ORM", r"/sqlalchemy/orm/"),
    ("SQLAlchemy Core/engine/pool", r"/sqlalchemy/"),
    ("FastCRUD", r"/fastcrud/"),
    ("pydantic (validation, serialization)", r"/pydantic(_core)?/|pydantic_core"),
    ("FastAPI encoders (jsonable_encoder)", r"/fastapi/encoders\.py"),
    ("JSON (stdlib)", r"/json/"),
    # The one middleware and its steps: the whole package, its uvicorn protocol aside.
    ("app middleware (app/platform/http/)", r"/app/platform/http/(?!uvicorn_protocol\.py)"),
    ("FastAPI routing, dependencies", r"/fastapi/"),
    ("Starlette", r"/starlette/"),
    # The app's subclass of uvicorn's protocol is server work, not app code.
    ("uvicorn, httptools", r"/uvicorn/|httptools|/app/platform/http/uvicorn_protocol\.py"),
    ("app code", r"/app/"),
    ("logging", r"/logging/"),
    ("anyio (threads, task groups)", r"/anyio/"),
    ("asyncio, uvloop", r"/asyncio/|uvloop"),
]
_COMPILED = [(name, re.compile(pattern)) for name, pattern in LAYERS]


@dataclass(frozen=True)
class Frame:
    name: str
    file: str
    line: int

    @property
    def label(self) -> str:
        file = re.sub(r".*/site-packages/", "", self.file)
        file = re.sub(r".*/src/app/", "app/", file)
        return f"{self.name} ({file}:{self.line})"

    @property
    def layer(self) -> str:
        key = f"{self.file}:{self.name}"
        for name, pattern in _COMPILED:
            if pattern.search(key):
                return name
        return "other (stdlib, interpreter)"

    @property
    def is_app(self) -> bool:
        return "/src/app/" in self.file or "/site-packages/app/" in self.file


# Innermost frames of a thread that waits (a pool thread with no work, a selector): py-spy
# may still report them as active; they are not time spent on requests.
_WAITING = re.compile(r"(threading|queue|selectors)\.py:.*(wait|get|select)|multiprocessing/")


@dataclass
class Summary:
    samples: float
    threads: dict[str, float]
    layers_inclusive: dict[str, float]
    layers_self: dict[str, float]
    app_inclusive: dict[str, float]
    self_time: dict[str, float]

    def share(self, value: float) -> float:
        return 100 * value / self.samples if self.samples else 0.0


def top(counts: dict[str, float], limit: int | None = None) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda item: -item[1])[:limit]


def _thread_kind(profile_name: str) -> str:
    if "password-hash" in profile_name:
        return "password-hash threads (the app's hashing executor)"
    if "AnyIO worker thread" in profile_name:
        return "AnyIO worker threads (sync dependencies, to_thread)"
    if "MainThread" in profile_name:
        return "main thread (event loop)"
    return "other threads"


def summarize(paths: Sequence[Path]) -> Summary:
    total = 0.0
    threads: dict[str, float] = defaultdict(float)
    layers_inclusive: dict[str, float] = defaultdict(float)
    layers_self: dict[str, float] = defaultdict(float)
    app_inclusive: dict[str, float] = defaultdict(float)
    self_time: dict[str, float] = defaultdict(float)
    for path in paths:
        data: dict[str, Any] = json.loads(path.read_text())
        frames = [
            Frame(str(f.get("name", "?")), str(f.get("file", "")), int(f.get("line") or 0))
            for f in data["shared"]["frames"]
        ]
        for profile in data["profiles"]:
            # With --subprocesses py-spy also watches uvicorn's supervisor; it only waits, and
            # idle samples are left out, so what remains is the workers' time.
            stacks = profile.get("samples", [])
            weights = profile.get("weights") or [1.0] * len(stacks)
            kind = _thread_kind(str(profile.get("name", "")))
            for stack, weight in zip(stacks, weights, strict=False):
                chain = [frames[i] for i in stack]
                if not chain:
                    continue
                leaf = chain[-1]
                if _WAITING.search(f"{leaf.file}:{leaf.name}"):
                    continue
                w = float(weight)
                total += w
                threads[kind] += w
                for layer in {f.layer for f in chain}:
                    layers_inclusive[layer] += w
                layers_self[leaf.layer] += w
                self_time[leaf.label] += w
                for label in {f.label for f in chain if f.is_app}:
                    app_inclusive[label] += w
    return Summary(total, threads, layers_inclusive, layers_self, app_inclusive, self_time)


def render(summary: Summary, limit: int = 20) -> str:
    lines = [f"{summary.samples:.2f} s of samples (busy time of the workers)"]

    def block(title: str, counts: dict[str, float], count: int | None) -> None:
        lines.append("")
        lines.append(title)
        for label, value in top(counts, count):
            lines.append(f"  {summary.share(value):5.1f} %  {label}")

    block("by thread:", summary.threads, None)
    block("by layer, inclusive:", summary.layers_inclusive, None)
    block("by layer, self:", summary.layers_self, None)
    block("app functions, inclusive:", summary.app_inclusive, limit)
    block("innermost functions (self):", summary.self_time, limit)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profiles",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, help="py-spy speedscope JSON files")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(render(summarize(args.files), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
