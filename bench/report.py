"""The report: the table, the targets (PASS/MISS), results.json and the chart."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.infra import WorkerMemory, log
from bench.wrk import Load, WrkResult

RSS_LIMIT_MIB = 150.0
S1_OF_DBLIMIT = 40.0
CEILING_SHARES = (("S3", 40.0), ("S4", 40.0), ("S2", 8.0), ("S5", 3.0), ("S6", 6.0))


@dataclass
class ScenarioResult:
    id: str
    title: str
    method: str
    path: str
    load: Load
    result: WrkResult
    ceiling_rps: float
    memory: list[WorkerMemory] = field(default_factory=list)
    loadavg: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # Load that ran beside the measured one (S8: the logins); its errors count too.
    background: WrkResult | None = None
    # CPU ms per request in the app's workers and in PostgreSQL (see Bench.cpu_used).
    cpu: dict[str, float] = field(default_factory=dict)
    # The HTTP server of `app serve` for this run, and the database limit app's req/s.
    server: str = ""
    dblimit_rps: float = 0.0

    @property
    def pct_of_ceiling(self) -> float:
        return 100 * self.result.rps / self.ceiling_rps if self.ceiling_rps > 0 else 0.0

    @property
    def pct_of_dblimit(self) -> float:
        return 100 * self.result.rps / self.dblimit_rps if self.dblimit_rps > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "server": self.server,
            "title": self.title,
            "method": self.method,
            "path": self.path,
            "threads": self.load.threads,
            "connections": self.load.connections,
            "duration_s": self.load.duration_s,
            **self.result.as_dict(),
            "pct_of_ceiling": round(self.pct_of_ceiling, 2),
            "pct_of_dblimit": round(self.pct_of_dblimit, 2),
            "worker_memory": [m.as_dict() for m in self.memory],
            "loadavg_1m_before": self.loadavg,
            **self.cpu,
            **self.extra,
        }


@dataclass
class Target:
    name: str
    measured: str
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.name, "measured": self.measured, "passed": self.passed}


def _by_id(scenarios: Sequence[ScenarioResult]) -> dict[str, ScenarioResult]:
    return {s.id: s for s in scenarios}


def evaluate(
    scenarios: Sequence[ScenarioResult], hash_rate: float | None, max_rss_mib: float | None
) -> list[Target]:
    """The targets of one server's runs; a scenario that did not run has no target."""
    runs = _by_id(scenarios)
    targets: list[Target] = []

    if "S1" in runs and runs["S1"].dblimit_rps > 0:
        got = runs["S1"].pct_of_dblimit
        targets.append(
            Target("S1 >= 40 % of the database limit", f"{got:.1f} %", got >= S1_OF_DBLIMIT)
        )
    for sid, share in CEILING_SHARES:
        if sid in runs:
            got = runs[sid].pct_of_ceiling
            targets.append(Target(f"{sid} >= {share} % of ceiling", f"{got:.1f} %", got >= share))

    if "S7" in runs and hash_rate:
        rps = runs["S7"].result.rps
        of_hash = 100 * rps / hash_rate
        targets.append(
            Target(
                "S7 >= 90 % of the Argon2id rate on this machine",
                f"{rps:,.1f} req/s = {of_hash:.0f} % of {hash_rate:,.1f} hashes/s",
                of_hash >= 90,
            )
        )

    if "S8" in runs and "S1" in runs:
        alone, mixed = runs["S1"].result.p99_ms, runs["S8"].result.p99_ms
        factor = mixed / alone if alone > 0 else math.inf
        targets.append(
            Target(
                "S8 p99 <= 3 x S1 p99",
                f"{mixed:.1f} ms vs {alone:.1f} ms ({factor:.1f} x)",
                factor <= 3,
            )
        )

    pages = sorted(
        (s for s in scenarios if s.id.startswith("S9")), key=lambda s: int(s.extra["page"])
    )
    if len(pages) >= 2:
        first, last = pages[0], pages[-1]
        factor = last.result.p50_ms / first.result.p50_ms if first.result.p50_ms > 0 else math.inf
        targets.append(
            Target(
                f"S9 p50 page {last.extra['page']:,} <= 1.5 x page {first.extra['page']:,}",
                f"{last.result.p50_ms:.2f} ms vs {first.result.p50_ms:.2f} ms ({factor:.2f} x)",
                factor <= 1.5,
            )
        )

    def counts(run: ScenarioResult) -> tuple[int, int]:
        results = [run.result] + ([run.background] if run.background else [])
        return sum(r.non_2xx for r in results), sum(r.socket_errors for r in results)

    def clean(run: ScenarioResult) -> bool:
        return counts(run) == (0, 0)

    def errors_of(run: ScenarioResult) -> str:
        non_2xx, socket_errors = counts(run)
        return f"{run.id}: {non_2xx} non-2xx, {socket_errors} socket errors"

    if "S10" in runs:
        s10 = runs["S10"]
        refused = s10.result.non_2xx - s10.result.counters.get("status_503", 0)
        ok = s10.result.socket_errors == 0 and refused == 0
        targets.append(
            Target(
                "S10 zero socket errors, zero non-2xx other than 503",
                f"{errors_of(s10)} ({s10.result.counters.get('status_503', 0)} of them 503)",
                ok,
            )
        )
    others = [s for s in scenarios if s.id != "S10"]
    if others:
        dirty = [s for s in others if not clean(s)]
        targets.append(
            Target(
                "every other scenario: zero non-2xx and socket errors",
                "; ".join(errors_of(s) for s in dirty) if dirty else "none in any",
                not dirty,
            )
        )

    if max_rss_mib is not None:
        targets.append(
            Target(
                f"worker RSS <= {RSS_LIMIT_MIB:.0f} MiB",
                f"largest {max_rss_mib:.1f} MiB",
                max_rss_mib <= RSS_LIMIT_MIB,
            )
        )
    return targets


def _table(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render(
    ceiling: WrkResult,
    dblimit: WrkResult | None,
    scenarios: Sequence[ScenarioResult],
    targets: dict[str, list[Target]],
    memory: Sequence[WorkerMemory],
    ceiling_memory: Sequence[WorkerMemory],
    hash_rate: float | None,
    ceiling_cpu_ms: float | None = None,
    dblimit_cpu_ms: float | None = None,
) -> str:
    def cpu(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    rows: list[list[str]] = [
        [
            "scenario",
            "server",
            "what",
            "conns",
            "req/s",
            "% ceiling",
            "p50 ms",
            "p99 ms",
            "non-2xx",
            "socket err",
            "app CPU ms/req",
            "PG CPU ms/req",
        ]
    ]

    def yard(name: str, what: str, result: WrkResult, cpu_ms: float | None) -> list[str]:
        share = 100 * result.rps / ceiling.rps if ceiling.rps > 0 else 0.0
        return [
            name,
            "uvicorn",
            what,
            "64",
            f"{result.rps:,.0f}",
            f"{share:.1f}",
            f"{result.p50_ms:.2f}",
            f"{result.p99_ms:.2f}",
            str(result.non_2xx),
            str(result.socket_errors),
            cpu(cpu_ms),
            "",
        ]

    rows.append(yard("ceiling", "Starlette, fixed JSON", ceiling, ceiling_cpu_ms))
    if dblimit is not None:
        rows.append(yard("db limit", "Starlette + asyncpg, S1", dblimit, dblimit_cpu_ms))
    for s in sorted(scenarios, key=_order):
        r = s.result
        rows.append(
            [
                s.id,
                s.server,
                s.title,
                str(s.load.connections),
                f"{r.rps:,.0f}",
                f"{s.pct_of_ceiling:.1f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                str(r.non_2xx),
                str(r.socket_errors),
                cpu(s.cpu.get("app_cpu_ms_per_request")),
                cpu(s.cpu.get("db_cpu_ms_per_request")),
            ]
        )
    lines = _table(rows, right={3, 4, 5, 6, 7, 8, 9, 10, 11})
    lines.append("")
    for s in scenarios:
        if s.id == "S1" and s.dblimit_rps > 0:
            lines.append(
                f"S1 under {s.server}: {s.pct_of_dblimit:.1f} % of the database limit "
                f"({s.result.rps:,.0f} of {s.dblimit_rps:,.0f} req/s)"
            )
    servers = list(dict.fromkeys(s.server for s in scenarios))
    if len(servers) == 2:
        first, second = servers
        by = {(s.server, s.id): s for s in scenarios}
        ratios = [
            f"{sid} {by[(first, sid)].result.rps / by[(second, sid)].result.rps:.2f}"
            for sid in dict.fromkeys(s.id for s in scenarios)
            if (first, sid) in by and (second, sid) in by and by[(second, sid)].result.rps > 0
        ]
        lines.append(f"req/s {first} / {second}: " + ", ".join(ratios))
    if memory:
        parts = ", ".join(
            f"pid {m.pid}: {m.rss_mib:.1f} MiB (peak {m.peak_mib:.1f})" for m in memory
        )
        lines.append(f"app worker RSS after the runs: {parts}")
    if ceiling_memory:
        parts = ", ".join(f"{m.rss_mib:.1f} MiB" for m in ceiling_memory)
        lines.append(f"ceiling worker RSS: {parts}")
    if hash_rate:
        lines.append(f"Argon2id verifications on this machine: {hash_rate:,.1f}/s")
    for server, found in targets.items():
        lines.append("")
        lines.append(f"targets under {server}:")
        for t in found:
            lines.append(f"  {'PASS' if t.passed else 'MISS'}  {t.name}: {t.measured}")
    return "\n".join(lines)


def _order(run: ScenarioResult) -> tuple[int, str, str]:
    """S1..S10 in number order (S9's pages by page), each with its servers together."""
    number = int(run.id[1:].split("-", 1)[0])
    return number, str(run.extra.get("page", 0)).zfill(8), run.server


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def chart(path: Path, ceiling: WrkResult, scenarios: Sequence[ScenarioResult], title: str) -> bool:
    """results.png: throughput and latency per scenario, and S9's latency against page number.
    False (and a note) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("note: matplotlib is not installed (the bench dependency group): no results.png")
        return False

    scenarios = sorted(scenarios, key=_order)
    names = ["ceiling", *(f"{s.id}\n{s.server}" for s in scenarios)]
    rps = [ceiling.rps, *(s.result.rps for s in scenarios)]
    p50 = [ceiling.p50_ms, *(s.result.p50_ms for s in scenarios)]
    p99 = [ceiling.p99_ms, *(s.result.p99_ms for s in scenarios)]
    pct = [100.0, *(s.pct_of_ceiling for s in scenarios)]
    first_server = scenarios[0].server if scenarios else ""
    pages = sorted(
        (s for s in scenarios if s.id.startswith("S9") and s.server == first_server),
        key=lambda s: int(s.extra["page"]),
    )

    fig, axes = plt.subplots(3 if pages else 2, 1, figsize=(16, 14 if pages else 10))
    fig.suptitle(title, fontsize=11)
    x = list(range(len(names)))

    ax = axes[0]
    bars = ax.bar(x, rps, color=["#888888", *(["#3b73b9"] * len(scenarios))])
    for bar, share in zip(bars, pct, strict=True):
        ax.annotate(
            f"{share:.1f} %" if share < 10 else f"{share:.0f} %",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(x, names, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log)")
    ax.set_title("Throughput (label: % of the ceiling)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1]
    width = 0.4
    ax.bar([i - width / 2 for i in x], p50, width, label="p50", color="#5aa469")
    ax.bar([i + width / 2 for i in x], p99, width, label="p99", color="#d35d6e")
    ax.set_xticks(x, names, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("Latency per scenario", fontsize=10)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)

    if pages:
        ax = axes[2]
        numbers = [int(s.extra["page"]) for s in pages]
        ax.plot(numbers, [s.result.p50_ms for s in pages], "o-", label="p50", color="#5aa469")
        ax.plot(numbers, [s.result.p99_ms for s in pages], "o-", label="p99", color="#d35d6e")
        ax.set_xscale("log")
        ax.set_xticks(numbers, [f"{n:,}" for n in numbers])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("cursor page (10 posts a page; the response cache is not used)")
        ax.set_ylabel("latency, ms")
        ax.set_title(
            f"S9 under {first_server}: cursor page latency against page number", fontsize=10
        )
        ax.legend()
        ax.grid(alpha=0.3)

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
