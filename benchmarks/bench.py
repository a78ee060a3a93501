"""`make bench`: how fast the service serves, as ratios to two references measured in the same run.

Absolute req/s depend on the machine and whatever else runs on it; ratios to servers measured minutes apart
on the same machine do not (much). So this starts three servers on free local ports (benchmarks/fleet.py):

- ours: the real gunicorn service, exactly as `make run` serves it (config's WORKERS);
- seed: benchmarks/seed_server.py, the naive seed-style server (Flask dev server, Keras predict() per request);
- bare: benchmarks/bare_server.py, Flask doing no model work, on the same gunicorn worker and settings (the ceiling);

loads each with `hey` (Debian's package: `make install-hey`) at every --concurrency, posting
samples/ankle-boot.png as the multipart field `image`, and prints req/s, p50, p99, errors and RSS, then the
targets (benchmarks/figures.py):

(a) ours at c=16 serves at least 50 % of bare's req/s at c=16;
(b) ours at c=16 serves at least 40× seed's req/s at c=16;
(c) ours' p50 at c=1 is at most 2.5× bare's p50 at c=1;
(d) no request fails in any run;
(e) with --soak N: ours' worker RSS grows by at most SOAK_MAX_GROWTH_MB over N more requests at c=16;
(f)–(h) the batch part (benchmarks/batch.py): batches of 64 through gRPC, HTTP V2 binary and the model in-process,
    and single images at c=1 over gRPC and HTTP V2.

Results go to benchmarks/results/latest.json (with the machine and the command) and a latency chart next to it
(benchmarks/report.py). The exit status is non-zero only when something broke (hey is missing, a server did not
start, hey failed), never for a missed target: the figures are the deliverable.

Usage: python -m benchmarks.bench [--concurrency 1,16] [--requests 3000] [--seed-requests 300] [--warmup 200]
                                  [--duration 10s] [--soak 20000] [--batch-seconds 10]
                                  [--output benchmarks/results/latest.json]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.batch import measure_batches
from benchmarks.figures import (
    HIGH_CONCURRENCY,
    OURS,
    SEED,
    SERVER_ORDER,
    BenchError,
    HeyRow,
    RunStats,
    SoakResult,
    batch_targets,
    evaluate_targets,
    format_batch,
    format_table,
    ok_latencies_ms,
    run_duration_s,
    summarize,
)
from benchmarks.fleet import SAMPLE, Server, running_servers, served_settings
from benchmarks.hey import FIELD_NAME, find_hey, multipart_body, requests_for, run_hey
from benchmarks.report import machine_description, results, warn_if_busy, write_chart, write_results

logger = logging.getLogger("benchmarks.bench")

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_CONCURRENCY = "1,16"
DEFAULT_REQUESTS = 3000  # ours and bare: several seconds each even at bare's speed
DEFAULT_SEED_REQUESTS = 300  # the seed server does ~20 req/s: 300 is ~15 s a run
DEFAULT_WARMUP = 200
DEFAULT_SEED_WARMUP = 32
DEFAULT_BATCH_SECONDS = 10.0  # each path of the batch part (benchmarks/batch.py)
SOAK_SEGMENTS = 4  # RSS is read after each quarter of the soak, to show a trend and not only two points


@dataclass
class Plan:
    """What to send: per-server request counts, warm-up counts, concurrency levels."""

    concurrency: list[int]
    requests: int
    seed_requests: int
    warmup: int
    seed_warmup: int
    duration: str | None
    soak: int
    batch_seconds: float = DEFAULT_BATCH_SECONDS

    def count(self, server: str) -> int:
        return self.seed_requests if server == SEED else self.requests

    def warmup_count(self, server: str) -> int:
        return self.seed_warmup if server == SEED else self.warmup


def parse_concurrency(text: str) -> list[int]:
    """'1,16' → [1, 16]; each level must be a positive integer."""
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or any(level < 1 for level in levels):
        raise ValueError(f"concurrency levels must be positive integers, got {text!r}")
    return levels


def measure(
    hey: str, server: Server, body_path: Path, concurrency: int, plan: Plan, latencies: dict[str, list[float]]
) -> RunStats:
    """A warm-up run (not counted), then the measured run; keeps the latencies for the chart."""
    if plan.warmup_count(server.name) > 0:
        run_hey(hey, server.predict_url, body_path, concurrency, plan.warmup_count(server.name))
    rows, sent, wall_s = run_hey(
        hey, server.predict_url, body_path, concurrency, plan.count(server.name), plan.duration
    )
    stats = summarize(server.name, concurrency, rows, sent, run_duration_s(rows, wall_s), server.rss_mb())
    latencies[f"{server.name} c={concurrency}"] = ok_latencies_ms(rows)
    logger.info(
        "%s c=%d: %d requests, %.1f req/s, p50 %.2f ms, p99 %.2f ms, %d errors, RSS %.1f MB",
        stats.server,
        concurrency,
        stats.requests,
        stats.rps,
        stats.p50_ms,
        stats.p99_ms,
        stats.errors,
        stats.rss_mb,
    )
    return stats


def soak_test(hey: str, server: Server, body_path: Path, total: int) -> SoakResult:
    """total more requests at high concurrency in SOAK_SEGMENTS parts, reading the workers' RSS after each."""
    before = server.rss_mb()
    segment = requests_for(total // SOAK_SEGMENTS, HIGH_CONCURRENCY)
    rows_all: list[HeyRow] = []
    sent_all, duration_all, series = 0, 0.0, []
    logger.info(
        "soak: %d requests at c=%d to %s, RSS now %.1f MB",
        segment * SOAK_SEGMENTS,
        HIGH_CONCURRENCY,
        server.name,
        before,
    )
    for _ in range(SOAK_SEGMENTS):
        rows, sent, wall_s = run_hey(hey, server.predict_url, body_path, HIGH_CONCURRENCY, segment)
        rows_all.extend(rows)
        sent_all += sent or len(rows)
        duration_all += run_duration_s(rows, wall_s)
        series.append(server.rss_mb())
        logger.info("soak: %d requests sent, RSS %.1f MB", sent_all, series[-1])
    stats = summarize(server.name, HIGH_CONCURRENCY, rows_all, sent_all, duration_all, series[-1])
    return SoakResult(stats, before, series)


def benchmark(plan: Plan, output: Path) -> None:
    """Start the servers, measure every (concurrency, server) pair, soak, report and write the results."""
    started = datetime.now(UTC)
    hey = find_hey()
    machine = machine_description()
    warn_if_busy()
    settings = served_settings()
    body = multipart_body(FIELD_NAME, SAMPLE.name, SAMPLE.read_bytes())
    runs: list[RunStats] = []
    latencies: dict[str, list[float]] = {}
    soak = batch = None
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        body_path = Path(scratch) / "body.multipart"
        body_path.write_bytes(body)
        with running_servers(Path(scratch), body, settings) as servers:
            # Concurrency outermost: the servers compared at one level are measured minutes, not runs, apart.
            for level in plan.concurrency:
                for name in SERVER_ORDER:
                    runs.append(measure(hey, servers[name], body_path, level, plan, latencies))
            if plan.soak:
                soak = soak_test(hey, servers[OURS], body_path, plan.soak)
            if plan.batch_seconds:
                ours = servers[OURS]
                batch = measure_batches(ours.base_url, ours.grpc_address, settings.workers, plan.batch_seconds)
    targets = evaluate_targets(runs, soak) + (batch_targets(batch) if batch else [])
    sys.stdout.write("\n" + format_table(runs, targets, soak) + (format_batch(batch) if batch else ""))
    chart = output.with_suffix(".png")
    write_chart(latencies, plan.concurrency, chart)
    write_results(output, results(asdict(plan), settings, runs, soak, targets, machine, started, batch))
    logger.info("wrote %s and %s", output, chart)
    missed = [target.name for target in targets if target.passed is False]
    if missed:
        logger.warning(
            "targets missed: %s (figures above; this is not a failure of the benchmark itself)", ", ".join(missed)
        )


def parse_args(argv: Sequence[str] | None = None) -> tuple[Plan, Path]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default=DEFAULT_CONCURRENCY, help="comma-separated levels (default 1,16)")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per run, for ours and bare")
    parser.add_argument("--seed-requests", type=int, default=DEFAULT_SEED_REQUESTS, help="per run, for seed")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="uncounted requests before each run")
    parser.add_argument("--seed-warmup", type=int, default=DEFAULT_SEED_WARMUP, help="the same, for seed")
    parser.add_argument(
        "--duration",
        help="run each measurement for this long instead (hey -z, e.g. 10s); "
        "requests that got no answer are then not counted as errors",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        help="then send this many requests at c=16 to ours and report its workers' RSS before/after (e.g. 20000)",
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=DEFAULT_BATCH_SECONDS,
        help="then each batch-64 path (gRPC, HTTP V2 binary, in-process) this long; 0 leaves the batch part out",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (the chart: .png)")
    args = parser.parse_args(argv)
    try:
        concurrency = parse_concurrency(args.concurrency)
    except ValueError as error:
        parser.error(str(error))
    plan = Plan(
        concurrency,
        args.requests,
        args.seed_requests,
        args.warmup,
        args.seed_warmup,
        args.duration,
        args.soak,
        args.batch_seconds,
    )
    return plan, args.output


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plan, output = parse_args(argv)
    try:
        benchmark(plan, output)
    except BenchError as error:
        logger.error("benchmark broken: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
