"""`make bench`'s arithmetic: one run's statistics, the targets as ratios, the printed table and the JSON form.

Pure: no I/O, no processes (tests/test_bench.py tests it). The targets are described in benchmarks/bench.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from benchmarks.batch import BatchFigures

OURS, BARE, SEED = "ours", "bare", "seed"
SERVER_ORDER = (OURS, BARE, SEED)
HTTP_OK = 200

# The targets (see benchmarks/bench.py's docstring).
HIGH_CONCURRENCY = 16
LOW_CONCURRENCY = 1
MIN_SHARE_OF_BARE_RPS = 0.5
MIN_SPEEDUP_OVER_SEED = 40.0
MAX_P50_OVER_BARE = 2.5
SOAK_MAX_GROWTH_MB = 20.0

JSON_DECIMALS = 4


class BenchError(RuntimeError):
    """Something broke (not a missed target): the run cannot produce figures."""


@dataclass(frozen=True)
class HeyRow:
    """One completed request from `hey -o csv` (hey leaves failed requests out of its CSV)."""

    latency_s: float
    status: int
    offset_s: float  # when the request started, from the start of the hey run


@dataclass
class RunStats:
    """One hey run against one server at one concurrency."""

    server: str
    concurrency: int
    requests: int  # sent (for a --duration run: completed)
    ok: int
    errors: int  # non-200 answers plus requests that got no answer
    duration_s: float
    rps: float  # 200 answers per second
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    rss_mb: float | None = None  # after the run: gunicorn's workers, or the seed process


@dataclass
class SoakResult:
    """A long run at high concurrency against ours, with the workers' RSS before, during and after."""

    stats: RunStats
    rss_before_mb: float
    rss_series_mb: list[float] = field(default_factory=list)  # after each segment

    @property
    def rss_after_mb(self) -> float:
        return self.rss_series_mb[-1] if self.rss_series_mb else self.rss_before_mb

    @property
    def growth_mb(self) -> float:
        return self.rss_after_mb - self.rss_before_mb


@dataclass(frozen=True)
class Target:
    """One target, what was measured for it and whether it was met (None: not measured in this run)."""

    name: str
    description: str
    measured: float | None
    limit: float
    passed: bool | None
    detail: str


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), numpy's linear interpolation; NaN if there are no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def run_duration_s(rows: Sequence[HeyRow], fallback_s: float) -> float:
    """From the first request's start to the last answer, from hey's own clock; else the wall time."""
    if not rows:
        return fallback_s
    return max(row.offset_s + row.latency_s for row in rows) or fallback_s


def ok_latencies_ms(rows: Iterable[HeyRow]) -> list[float]:
    """The latencies of the 200 answers, in ms."""
    return [row.latency_s * 1000.0 for row in rows if row.status == HTTP_OK]


def summarize(
    server: str,
    concurrency: int,
    rows: Sequence[HeyRow],
    sent: int | None,
    duration_s: float,
    rss_mb: float | None = None,
) -> RunStats:
    """Throughput, latency percentiles (of the 200 answers) and errors of one run; sent=None: unknown."""
    ok_ms = ok_latencies_ms(rows)
    sent = len(rows) if sent is None else sent
    errors = (len(rows) - len(ok_ms)) + max(sent - len(rows), 0)
    return RunStats(
        server=server,
        concurrency=concurrency,
        requests=sent,
        ok=len(ok_ms),
        errors=errors,
        duration_s=duration_s,
        rps=len(ok_ms) / duration_s if duration_s > 0 else 0.0,
        mean_ms=sum(ok_ms) / len(ok_ms) if ok_ms else float("nan"),
        p50_ms=percentile(ok_ms, 50),
        p90_ms=percentile(ok_ms, 90),
        p99_ms=percentile(ok_ms, 99),
        max_ms=max(ok_ms, default=float("nan")),
        rss_mb=rss_mb,
    )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or math.isnan(denominator) or denominator <= 0:
        return None
    return numerator / denominator


def ratio_target(
    name: str,
    description: str,
    numerator: float | None,
    denominator: float | None,
    limit: float,
    at_least: bool,
    unit: str,
) -> Target:
    """A target on numerator / denominator: ≥ limit (at_least) or ≤ limit; not measured if either is missing."""
    ratio = _ratio(numerator, denominator)
    if ratio is None:
        return Target(name, description, None, limit, None, "not measured in this run")
    passed = ratio >= limit if at_least else ratio <= limit
    detail = f"{numerator:.1f} / {denominator:.1f} {unit} = {ratio:.2f}×"
    return Target(name, description, ratio, limit, passed, detail)


# (name, what, numerator, denominator, limit, at least (else at most), unit): benchmarks/batch.py's targets, each a
# ratio of two of its BatchFigures' fields.
BATCH_TARGETS = (
    ("f", "gRPC batch images/s ≥ 0.9× in-process ONNX Runtime's", "grpc_images_s", "in_process_images_s", 0.9, True),
    ("g", "gRPC batch images/s ≥ HTTP V2 binary's", "grpc_images_s", "http_v2_images_s", 1.0, True),
    ("h", "gRPC single-image p50 at c=1 ≤ HTTP V2's", "grpc_p50_ms", "http_v2_p50_ms", 1.0, False),
)


def batch_targets(batch: BatchFigures) -> list[Target]:
    """The targets (f)–(h) of benchmarks/batch.py's docstring, from its BatchFigures."""
    return [
        ratio_target(
            name,
            what,
            getattr(batch, numerator),
            getattr(batch, denominator),
            limit,
            at_least,
            "ms" if numerator.endswith("_ms") else "images/s",
        )
        for name, what, numerator, denominator, limit, at_least in BATCH_TARGETS
    ]


def format_batch(batch: BatchFigures) -> str:
    return (
        f"batch of {batch.batch} (images/s): in-process ONNX Runtime {batch.in_process_images_s:.0f}, "
        f"HTTP V2 binary {batch.http_v2_images_s:.0f}, gRPC {batch.grpc_images_s:.0f}; "
        f"single image at c=1, p50: HTTP V2 {batch.http_v2_p50_ms:.2f} ms, gRPC {batch.grpc_p50_ms:.2f} ms\n"
    )


def evaluate_targets(stats: Iterable[RunStats], soak: SoakResult | None = None) -> list[Target]:
    """The targets (a)–(e) of benchmarks/bench.py's docstring, from the runs of this benchmark."""
    runs = list(stats)
    by_key = {(run.server, run.concurrency): run for run in runs}

    def value(server: str, concurrency: int, attribute: str) -> float | None:
        run = by_key.get((server, concurrency))
        return getattr(run, attribute) if run else None

    high, low = HIGH_CONCURRENCY, LOW_CONCURRENCY
    # (name, what, server measured against ours, concurrency, figure, limit, at least (else at most), unit)
    table = (
        ("a", f"ours req/s at c={high} ≥ {MIN_SHARE_OF_BARE_RPS * 100:.0f} % of bare's", BARE, high, "rps",
         MIN_SHARE_OF_BARE_RPS, True, "req/s"),
        ("b", f"ours req/s at c={high} ≥ {MIN_SPEEDUP_OVER_SEED:.0f}× seed's", SEED, high, "rps",
         MIN_SPEEDUP_OVER_SEED, True, "req/s"),
        ("c", f"ours p50 at c={low} ≤ {MAX_P50_OVER_BARE}× bare's", BARE, low, "p50_ms",
         MAX_P50_OVER_BARE, False, "ms"),
    )  # fmt: skip
    targets = [
        ratio_target(name, what, value(OURS, level, figure), value(other, level, figure), limit, at_least, unit)
        for name, what, other, level, figure, limit, at_least, unit in table
    ]
    all_runs = runs + ([soak.stats] if soak else [])
    errors = sum(run.errors for run in all_runs)
    failing = ", ".join(f"{run.server} c={run.concurrency}: {run.errors}" for run in all_runs if run.errors)
    targets.append(
        Target(
            "d",
            "no failed request in any run",
            float(errors),
            0.0,
            errors == 0,
            f"{errors} errors in {len(all_runs)} runs" + (f" ({failing})" if failing else ""),
        )
    )
    if soak:
        targets.append(
            Target(
                "e",
                f"ours worker RSS grows ≤ {SOAK_MAX_GROWTH_MB:.0f} MB over {soak.stats.requests} requests",
                soak.growth_mb,
                SOAK_MAX_GROWTH_MB,
                soak.growth_mb <= SOAK_MAX_GROWTH_MB,
                f"{soak.rss_before_mb:.1f} → {soak.rss_after_mb:.1f} MB ({soak.growth_mb:+.1f} MB)",
            )
        )
    return targets


def json_ready(value: object, decimals: int = JSON_DECIMALS) -> object:
    """Floats rounded (small, diff-friendly result files) and NaN/inf as null (JSON has neither), recursively."""
    if isinstance(value, float):
        return round(value, decimals) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item, decimals) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item, decimals) for item in value]
    return value


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def format_table(stats: Iterable[RunStats], targets: Iterable[Target], soak: SoakResult | None = None) -> str:
    """The human-readable report: one line per server and concurrency, the soak, then each target."""
    header = f"{'server':<10}{'c':>4}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'RSS MB':>9}"
    lines = [header, "-" * len(header)]
    ordered = sorted(
        stats,
        key=lambda run: (
            SERVER_ORDER.index(run.server) if run.server in SERVER_ORDER else len(SERVER_ORDER),
            run.concurrency,
        ),
    )
    for run in [*ordered, *([soak.stats] if soak else [])]:
        name = f"{run.server} soak" if soak and run is soak.stats else run.server
        lines.append(
            f"{name:<10}{run.concurrency:>4}{run.requests:>10}{_cell(run.rps, '.1f'):>10}"
            f"{_cell(run.p50_ms, '.2f'):>9}{_cell(run.p99_ms, '.2f'):>9}{run.errors:>8}"
            f"{_cell(run.rss_mb, '.1f'):>9}"
        )
    if soak:
        series = " → ".join(f"{mb:.1f}" for mb in [soak.rss_before_mb, *soak.rss_series_mb])
        lines.append(f"soak: ours worker RSS {series} MB")
    lines.append("")
    for target in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[target.passed]
        lines.append(f"[{verdict}] ({target.name}) {target.description}: {target.detail}")
    return "\n".join(lines) + "\n"
