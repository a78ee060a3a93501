"""`make bench`: how fast the service serves, as ratios to two references measured in the same run.

Absolute req/s depend on the machine and whatever else runs on it; ratios to servers measured minutes apart
on the same machine do not (much). So this starts three servers on free local ports:

- ours: the real gunicorn service, exactly as `make run` serves it (config's WORKERS);
- seed: benchmarks/seed_server.py, the naive seed-style server (Flask dev server, Keras predict() per request);
- bare: benchmarks/bare_server.py, Flask doing no model work, on the same gunicorn worker and settings (the ceiling);

loads each with `hey` (installed with apt-get if missing) at every --concurrency, posting samples/ankle-boot.png
as the multipart field `image`, and prints req/s, p50, p99, errors and RSS, then the targets:

(a) ours at c=16 serves at least 50 % of bare's req/s at c=16;
(b) ours at c=16 serves at least 40× seed's req/s at c=16;
(c) ours' p50 at c=1 is at most 2.5× bare's p50 at c=1;
(d) no request fails in any run;
(e) with --soak N: ours' worker RSS grows by at most SOAK_MAX_GROWTH_MB over N more requests at c=16.

Results go to benchmarks/results/latest.json (with the machine and the command) and a latency chart next to it.
The exit status is non-zero only when something broke (a server did not start, hey failed), never for a missed
target: the figures are the deliverable.

Usage: python benchmarks/bench.py [--concurrency 1,16] [--requests 3000] [--seed-requests 300] [--warmup 200]
                                  [--duration 10s] [--soak 20000] [--output benchmarks/results/latest.json]
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np
import requests

import config
from tooling.live_server import free_port, start_server, stop_server, wait_until_serving

logger = logging.getLogger("benchmarks.bench")

BENCH_DIR = Path(__file__).resolve().parent
SEED_SCRIPT = BENCH_DIR / "seed_server.py"
BARE_APP = "benchmarks.bare_server:app"
# The service's worker (gevent's event loop, with its read and write limits): the same server stack for both.
SERVICE_WORKER_CLASS = "gunicorn_worker.EventWorker"
DEFAULT_OUTPUT = BENCH_DIR / "results" / "latest.json"
SAMPLE = config.REPO_ROOT / "samples" / "ankle-boot.png"
SAMPLE_LABEL = "Ankle boot"
FIELD_NAME = "image"
BOUNDARY = "----max-fashion-mnist-bench-7d1f3a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
PREDICT_PATH = "/model/predict"

OURS, BARE, SEED = "ours", "bare", "seed"
SERVER_ORDER = (OURS, BARE, SEED)

DEFAULT_CONCURRENCY = "1,16"
DEFAULT_REQUESTS = 3000  # ours and bare: several seconds each even at bare's speed
DEFAULT_SEED_REQUESTS = 300  # the seed server does ~20 req/s: 300 is ~15 s a run
DEFAULT_WARMUP = 200
DEFAULT_SEED_WARMUP = 32
HEY_REQUEST_TIMEOUT_S = 30  # a request slower than this counts as failed
SERVER_START_TIMEOUT_S = 120
APT_LOCK_WAIT_S = 300  # another apt-get may be running: wait for its lock instead of failing
POLL_INTERVAL_S = 0.5
HTTP_OK = 200

# The targets (see the module docstring).
HIGH_CONCURRENCY = 16
LOW_CONCURRENCY = 1
MIN_SHARE_OF_BARE_RPS = 0.5
MIN_SPEEDUP_OVER_SEED = 40.0
MAX_P50_OVER_BARE = 2.5
SOAK_SEGMENTS = 4  # RSS is read after each quarter of the soak, to show a trend and not only two points
SOAK_MAX_GROWTH_MB = 20.0

KIB_PER_MB = 1024
JSON_DECIMALS = 4


class BenchError(RuntimeError):
    """Something broke (not a missed target): the run cannot produce figures."""


# --------------------------------------------------------------------------------------------------------------
# Pure helpers: no I/O, no processes; importable for tests.
# --------------------------------------------------------------------------------------------------------------

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


def parse_concurrency(text: str) -> list[int]:
    """'1,16' → [1, 16]; each level must be a positive integer."""
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or any(level < 1 for level in levels):
        raise ValueError(f"concurrency levels must be positive integers, got {text!r}")
    return levels


def requests_for(count: int, concurrency: int) -> int:
    """hey sends count // c requests per worker, so the count actually sent is a multiple of c (and ≥ c)."""
    return max(concurrency, count // concurrency * concurrency)


def multipart_body(field_name: str, filename: str, content: bytes, boundary: str = BOUNDARY,
                   content_type: str = "image/png") -> bytes:
    """A multipart/form-data body with one file field, as a browser or requests would send it."""
    head = (f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode()


def parse_hey_csv(text: str) -> list[HeyRow]:
    """hey's CSV (response-time, ..., status-code, offset; seconds) → one HeyRow per completed request."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"response-time", "status-code", "offset"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"not hey's CSV output: missing columns {sorted(missing)}")
    return [HeyRow(float(record["response-time"]), int(record["status-code"]), float(record["offset"]))
            for record in reader if record["response-time"]]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), numpy's linear interpolation; NaN if there are no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def run_duration_s(rows: Sequence[HeyRow], fallback_s: float) -> float:
    """From the first request's start to the last answer, from hey's own clock; else the wall time."""
    if not rows:
        return fallback_s
    return max(row.offset_s + row.latency_s for row in rows) or fallback_s


def summarize(server: str, concurrency: int, rows: Sequence[HeyRow], sent: int | None, duration_s: float,
              rss_mb: float | None = None) -> RunStats:
    """Throughput, latency percentiles (of the 200 answers) and errors of one run; sent=None: unknown."""
    ok_ms = [row.latency_s * 1000.0 for row in rows if row.status == HTTP_OK]
    sent = len(rows) if sent is None else sent
    errors = (len(rows) - len(ok_ms)) + max(sent - len(rows), 0)
    return RunStats(server=server, concurrency=concurrency, requests=sent, ok=len(ok_ms), errors=errors,
                    duration_s=duration_s, rps=len(ok_ms) / duration_s if duration_s > 0 else 0.0,
                    mean_ms=sum(ok_ms) / len(ok_ms) if ok_ms else float("nan"),
                    p50_ms=percentile(ok_ms, 50), p90_ms=percentile(ok_ms, 90), p99_ms=percentile(ok_ms, 99),
                    max_ms=max(ok_ms, default=float("nan")), rss_mb=rss_mb)


def parse_ppid(stat_text: str) -> int:
    """The parent pid from /proc/<pid>/stat (the name in parentheses may hold spaces and ')')."""
    return int(stat_text.rsplit(")", 1)[1].split()[1])


def parse_vm_rss_kib(status_text: str) -> int:
    """VmRSS in KiB from /proc/<pid>/status; 0 for a process without one (a zombie)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def parse_cpu_model(cpuinfo_text: str) -> str:
    """The first 'model name' of /proc/cpuinfo ('unknown' where there is none, e.g. some ARM kernels)."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def descendants_of(pid: int, parents: Mapping[int, int]) -> list[int]:
    """Every pid below pid in the process tree, given each process's parent."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return sorted(found)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or math.isnan(denominator) or denominator <= 0:
        return None
    return numerator / denominator


def ratio_target(name: str, description: str, numerator: float | None, denominator: float | None,
                 limit: float, at_least: bool, unit: str) -> Target:
    """A target on numerator / denominator: ≥ limit (at_least) or ≤ limit; not measured if either is missing."""
    ratio = _ratio(numerator, denominator)
    if ratio is None:
        return Target(name, description, None, limit, None, "not measured in this run")
    passed = ratio >= limit if at_least else ratio <= limit
    detail = f"{numerator:.1f} / {denominator:.1f} {unit} = {ratio:.2f}×"
    return Target(name, description, ratio, limit, passed, detail)


def evaluate_targets(stats: Iterable[RunStats], soak: SoakResult | None = None) -> list[Target]:
    """The targets (a)–(e) of the module docstring, from the runs of this benchmark."""
    runs = list(stats)
    by_key = {(run.server, run.concurrency): run for run in runs}

    def value(server: str, concurrency: int, attribute: str) -> float | None:
        run = by_key.get((server, concurrency))
        return getattr(run, attribute) if run else None

    high, low = HIGH_CONCURRENCY, LOW_CONCURRENCY
    targets = [
        ratio_target("a", f"ours req/s at c={high} ≥ {MIN_SHARE_OF_BARE_RPS * 100:.0f} % of bare's",
                     value(OURS, high, "rps"), value(BARE, high, "rps"), MIN_SHARE_OF_BARE_RPS, True, "req/s"),
        ratio_target("b", f"ours req/s at c={high} ≥ {MIN_SPEEDUP_OVER_SEED:.0f}× seed's",
                     value(OURS, high, "rps"), value(SEED, high, "rps"), MIN_SPEEDUP_OVER_SEED, True, "req/s"),
        ratio_target("c", f"ours p50 at c={low} ≤ {MAX_P50_OVER_BARE}× bare's",
                     value(OURS, low, "p50_ms"), value(BARE, low, "p50_ms"), MAX_P50_OVER_BARE, False, "ms"),
    ]
    all_runs = runs + ([soak.stats] if soak else [])
    errors = sum(run.errors for run in all_runs)
    failing = ", ".join(f"{run.server} c={run.concurrency}: {run.errors}" for run in all_runs if run.errors)
    targets.append(Target("d", "no failed request in any run", float(errors), 0.0, errors == 0,
                          f"{errors} errors in {len(all_runs)} runs" + (f" ({failing})" if failing else "")))
    if soak:
        targets.append(Target(
            "e", f"ours worker RSS grows ≤ {SOAK_MAX_GROWTH_MB:.0f} MB over {soak.stats.requests} requests",
            soak.growth_mb, SOAK_MAX_GROWTH_MB, soak.growth_mb <= SOAK_MAX_GROWTH_MB,
            f"{soak.rss_before_mb:.1f} → {soak.rss_after_mb:.1f} MB ({soak.growth_mb:+.1f} MB)"))
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
    ordered = sorted(stats, key=lambda run: (SERVER_ORDER.index(run.server) if run.server in SERVER_ORDER
                                             else len(SERVER_ORDER), run.concurrency))
    for run in [*ordered, *([soak.stats] if soak else [])]:
        name = f"{run.server} soak" if soak and run is soak.stats else run.server
        lines.append(f"{name:<10}{run.concurrency:>4}{run.requests:>10}{_cell(run.rps, '.1f'):>10}"
                     f"{_cell(run.p50_ms, '.2f'):>9}{_cell(run.p99_ms, '.2f'):>9}{run.errors:>8}"
                     f"{_cell(run.rss_mb, '.1f'):>9}")
    if soak:
        series = " → ".join(f"{mb:.1f}" for mb in [soak.rss_before_mb, *soak.rss_series_mb])
        lines.append(f"soak: ours worker RSS {series} MB")
    lines.append("")
    for target in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[target.passed]
        lines.append(f"[{verdict}] ({target.name}) {target.description}: {target.detail}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------
# Processes: hey, the three servers, RSS.
# --------------------------------------------------------------------------------------------------------------

def ensure_hey() -> str:
    """The hey binary; installs Debian's `hey` with apt-get where it is missing (apt-get update only if needed)."""
    found = shutil.which("hey")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if not apt_get or os.geteuid() != 0:
        raise BenchError("hey is not on PATH; install the Debian package `hey` (apt-get install hey)")
    logger.warning("hey is not on PATH: installing the Debian package hey with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = [apt_get, "-q", "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}"]
    install = [*apt, "install", "-y", "hey"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:  # noqa: S603
        logger.info("apt-get install failed; running apt-get update, then installing again")
        subprocess.run([*apt, "update"], env=env, capture_output=True, check=False)  # noqa: S603
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise BenchError(f"apt-get install hey failed:\n{result.stderr[-2000:]}")
    found = shutil.which("hey")
    if not found:
        raise BenchError("apt-get installed hey, but it is not on PATH")
    logger.info("installed hey at %s", found)
    return found


def run_hey(hey: str, url: str, body_path: Path, concurrency: int, count: int | None,
            duration: str | None = None) -> tuple[list[HeyRow], int | None, float]:
    """One hey run: its completed requests, the number sent (None for a --duration run) and the wall time."""
    amount = ["-z", duration] if duration else ["-n", str(requests_for(count or 0, concurrency))]
    command = [hey, *amount, "-c", str(concurrency), "-m", "POST", "-D", str(body_path), "-T", CONTENT_TYPE,
               "-t", str(HEY_REQUEST_TIMEOUT_S), "-o", "csv", url]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    wall_s = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"{shlex.join(command)} exited with {result.returncode}:\n{result.stderr[-2000:]}")
    sent = None if duration else requests_for(count or 0, concurrency)
    return parse_hey_csv(result.stdout), sent, wall_s


def process_parents() -> dict[int, int]:
    """Every live process's parent pid, from /proc/*/stat (psutil-free; /proc/<pid>/task/*/children needs
    a kernel option that not every kernel has)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = parse_ppid(stat.read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return parents


def rss_mb(pids: Iterable[int]) -> float:
    """The summed VmRSS of these processes, in MB (MiB)."""
    total_kib = 0
    for pid in pids:
        try:
            total_kib += parse_vm_rss_kib(Path(f"/proc/{pid}/status").read_text())
        except OSError:
            continue
    return total_kib / KIB_PER_MB


@dataclass
class Server:
    """A started server process and how to measure it."""

    name: str
    process: subprocess.Popen
    base_url: str
    log_path: Path
    workers_only: bool  # gunicorn: count the workers, not the master that only supervises them

    @property
    def predict_url(self) -> str:
        return self.base_url + PREDICT_PATH

    def measured_pids(self) -> list[int]:
        below = descendants_of(self.process.pid, process_parents())
        return below if self.workers_only and below else [self.process.pid, *below]

    def rss_mb(self) -> float:
        return rss_mb(self.measured_pids())


def gunicorn_binary() -> str:
    return str(Path(sys.executable).with_name("gunicorn"))


def start_ours(log_dir: Path) -> Server:
    """The service as `make run` serves it: tooling/live_server.py's command, with config's WORKERS (its own default
    env pins 1 worker; pass config's through explicitly)."""
    port = free_port()
    log_path = log_dir / f"{OURS}.log"
    env = {"WORKERS": str(config.WORKERS)}
    return Server(OURS, start_server(port, log_path, extra_env=env), f"http://127.0.0.1:{port}", log_path, True)


def start_seed(log_dir: Path) -> Server:
    port = free_port()
    log_path = log_dir / f"{SEED}.log"
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, str(SEED_SCRIPT), str(port)],  # noqa: S603
                                   cwd=config.REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Server(SEED, process, f"http://127.0.0.1:{port}", log_path, False)


def start_bare(log_dir: Path) -> Server:
    """gunicorn with the service's worker class, workers, connection limit and keep-alive; `-c /dev/null` so that
    it does not pick up the service's gunicorn.conf.py from the working directory, no control socket (as the
    service). The worker reads its timeouts from config.py itself."""
    port = free_port()
    log_path = log_dir / f"{BARE}.log"
    command = [gunicorn_binary(), "-c", os.devnull, "-k", SERVICE_WORKER_CLASS, "-w", str(config.WORKERS),
               "--worker-connections", str(config.MAX_CONNECTIONS), "--backlog", str(config.BACKLOG),
               "--keep-alive", str(math.ceil(config.KEEPALIVE_TIMEOUT)), "-b", f"127.0.0.1:{port}",
               "--log-level", "warning", "--no-control-socket", BARE_APP]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=config.REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    return Server(BARE, process, f"http://127.0.0.1:{port}", log_path, True)


def wait_for_predict(server: Server, body: bytes) -> dict:
    """Poll POST /model/predict with the benchmark's own body until it answers 200; returns its JSON."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} server exited with {server.process.returncode}:\n"
                             f"{server.log_path.read_text()[-4000:]}")
        try:
            answer = requests.post(server.predict_url, data=body, headers={"Content-Type": CONTENT_TYPE}, timeout=10)
            if answer.status_code == HTTP_OK:
                return answer.json()
        except requests.RequestException:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise BenchError(f"{server.name} server did not answer within {SERVER_START_TIMEOUT_S} s:\n"
                     f"{server.log_path.read_text()[-4000:]}")


@contextmanager
def running_servers(log_dir: Path, body: bytes) -> Iterator[dict[str, Server]]:
    """All three servers, started together (they load in parallel), each answering a real predict request."""
    with ExitStack() as stack:
        servers = {}
        for start in (start_ours, start_bare, start_seed):
            server = start(log_dir)
            stack.callback(stop_server, server.process)
            servers[server.name] = server
        try:
            wait_until_serving(servers[OURS].process, servers[OURS].base_url, servers[OURS].log_path)
        except RuntimeError as error:
            raise BenchError(f"{OURS} server did not start: {error}") from None
        for server in servers.values():
            answer = wait_for_predict(server, body)
            top = (answer.get("predictions") or [{}])[0]
            logger.info("%s serves at %s (pid %d); top answer %s %.3f", server.name, server.base_url,
                        server.process.pid, top.get("label"), top.get("probability", float("nan")))
            if server.name != BARE and top.get("label") != SAMPLE_LABEL:
                logger.warning("%s classifies %s as %s, not %s", server.name, SAMPLE.name, top.get("label"),
                               SAMPLE_LABEL)
        yield servers


# --------------------------------------------------------------------------------------------------------------
# The benchmark.
# --------------------------------------------------------------------------------------------------------------

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

    def count(self, server: str) -> int:
        return self.seed_requests if server == SEED else self.requests

    def warmup_count(self, server: str) -> int:
        return self.seed_warmup if server == SEED else self.warmup


def measure(hey: str, server: Server, body_path: Path, concurrency: int, plan: Plan,
            latencies: dict[str, list[float]]) -> RunStats:
    """A warm-up run (not counted), then the measured run; keeps the latencies for the chart."""
    if plan.warmup_count(server.name) > 0:
        run_hey(hey, server.predict_url, body_path, concurrency, plan.warmup_count(server.name))
    rows, sent, wall_s = run_hey(hey, server.predict_url, body_path, concurrency, plan.count(server.name),
                                 plan.duration)
    stats = summarize(server.name, concurrency, rows, sent, run_duration_s(rows, wall_s), server.rss_mb())
    latencies[f"{server.name} c={concurrency}"] = [row.latency_s * 1000.0 for row in rows if row.status == HTTP_OK]
    logger.info("%s c=%d: %d requests, %.1f req/s, p50 %.2f ms, p99 %.2f ms, %d errors, RSS %.1f MB",
                stats.server, concurrency, stats.requests, stats.rps, stats.p50_ms, stats.p99_ms, stats.errors,
                stats.rss_mb)
    return stats


def soak_test(hey: str, server: Server, body_path: Path, total: int) -> SoakResult:
    """total more requests at high concurrency in SOAK_SEGMENTS parts, reading the workers' RSS after each."""
    before = server.rss_mb()
    segment = requests_for(total // SOAK_SEGMENTS, HIGH_CONCURRENCY)
    rows_all: list[HeyRow] = []
    sent_all, duration_all, series = 0, 0.0, []
    logger.info("soak: %d requests at c=%d to %s, RSS now %.1f MB", segment * SOAK_SEGMENTS, HIGH_CONCURRENCY,
                server.name, before)
    for _ in range(SOAK_SEGMENTS):
        rows, sent, wall_s = run_hey(hey, server.predict_url, body_path, HIGH_CONCURRENCY, segment)
        rows_all.extend(rows)
        sent_all += sent or len(rows)
        duration_all += run_duration_s(rows, wall_s)
        series.append(server.rss_mb())
        logger.info("soak: %d requests sent, RSS %.1f MB", sent_all, series[-1])
    stats = summarize(server.name, HIGH_CONCURRENCY, rows_all, sent_all, duration_all, series[-1])
    return SoakResult(stats, before, series)


def package_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def command_output(*command: str) -> str | None:
    """A short command's stdout, or None where it is missing or fails (for the machine description only)."""
    executable = shutil.which(command[0])
    if not executable:
        return None
    result = subprocess.run([executable, *command[1:]], capture_output=True, text=True, check=False,  # noqa: S603
                            cwd=config.REPO_ROOT)
    return result.stdout.strip() if result.returncode == 0 else None


def machine_description() -> dict:
    """Enough to tell whether two result files are comparable: CPUs, memory, load, versions."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": parse_cpu_model(cpuinfo),
        "platform": platform.platform(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None,
        "python": platform.python_version(),
        "onnxruntime": package_version("onnxruntime"),
        "tensorflow": package_version("tensorflow-cpu", "tensorflow"),
        "keras": package_version("keras"),
        "flask": package_version("Flask", "flask"),
        "gunicorn": package_version("gunicorn"),
        "hey": command_output("dpkg-query", "-W", "-f", "${Version}", "hey"),
    }


def git_state() -> dict:
    status = command_output("git", "status", "--porcelain")
    return {"commit": command_output("git", "rev-parse", "HEAD"), "dirty": bool(status) if status is not None
            else None}


def warn_if_busy() -> None:
    """Another CPU-heavy process makes every figure noisy (ratios less so): say so up front."""
    if not Path("/proc/loadavg").exists():
        return
    load = float(Path("/proc/loadavg").read_text().split()[0])
    cpus = len(os.sched_getaffinity(0))
    if load > cpus / 2:
        logger.warning("load average %.2f on %d CPUs before starting: something else is running, "
                       "figures will be noisy", load, cpus)


def write_chart(latencies: Mapping[str, list[float]], concurrency: Sequence[int], path: Path) -> None:
    """Latency distribution per server, one panel per concurrency, log-x: where the time goes at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(1, len(concurrency), figsize=(5.5 * len(concurrency), 3.8), squeeze=False)
    every = [ms for values in latencies.values() for ms in values if ms > 0]
    bins = np.geomspace(max(min(every, default=0.1), 0.05), max(every, default=1000.0) * 1.05, 80)
    for axis, level in zip(axes[0], concurrency, strict=True):
        for name in SERVER_ORDER:
            values = latencies.get(f"{name} c={level}") or []
            if values:
                weights = np.full(len(values), 100.0 / len(values))
                axis.hist(values, bins=bins, weights=weights, histtype="step", linewidth=1.5,
                          label=f"{name}: p50 {percentile(values, 50):.1f}, p99 {percentile(values, 99):.1f} ms")
        axis.set_xscale("log")
        axis.set_xlabel("latency (ms, log scale)")
        axis.set_ylabel("% of requests")
        axis.set_title(f"concurrency {level}")
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle("POST /model/predict, samples/ankle-boot.png")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_results(path: Path, plan: Plan, runs: list[RunStats], soak: SoakResult | None, targets: list[Target],
                  machine: dict, started: datetime) -> None:
    high = {run.server: run.p99_ms for run in runs if run.concurrency == HIGH_CONCURRENCY}
    report = {
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join(sys.orig_argv),
        "machine": machine,
        "git": git_state(),
        "settings": {**asdict(plan), "workers": config.WORKERS, "worker_connections": config.MAX_CONNECTIONS,
                     "sample": str(SAMPLE.relative_to(config.REPO_ROOT)),
                     "hey_request_timeout_s": HEY_REQUEST_TIMEOUT_S,
                     "note": "hey reports latencies to 0.1 ms; rss_mb is gunicorn's workers or the seed process"},
        "runs": [asdict(run) for run in runs],
        "p99_ms_at_c16": high,
        "soak": ({**asdict(soak), "rss_after_mb": soak.rss_after_mb, "growth_mb": soak.growth_mb}
                 if soak else None),
        "targets": [asdict(target) for target in targets],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n")


def benchmark(plan: Plan, output: Path) -> None:
    """Start the servers, measure every (concurrency, server) pair, soak, report and write the results."""
    started = datetime.now(UTC)
    machine = machine_description()
    warn_if_busy()
    hey = ensure_hey()
    body = multipart_body(FIELD_NAME, SAMPLE.name, SAMPLE.read_bytes())
    runs: list[RunStats] = []
    latencies: dict[str, list[float]] = {}
    soak = None
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        body_path = Path(scratch) / "body.multipart"
        body_path.write_bytes(body)
        with running_servers(Path(scratch), body) as servers:
            # Concurrency outermost: the servers compared at one level are measured minutes, not runs, apart.
            for level in plan.concurrency:
                for name in SERVER_ORDER:
                    runs.append(measure(hey, servers[name], body_path, level, plan, latencies))
            if plan.soak:
                soak = soak_test(hey, servers[OURS], body_path, plan.soak)
    targets = evaluate_targets(runs, soak)
    sys.stdout.write("\n" + format_table(runs, targets, soak))
    chart = output.with_suffix(".png")
    write_chart(latencies, plan.concurrency, chart)
    write_results(output, plan, runs, soak, targets, machine, started)
    logger.info("wrote %s and %s", output, chart)
    missed = [target.name for target in targets if target.passed is False]
    if missed:
        logger.warning("targets missed: %s (figures above; this is not a failure of the benchmark itself)",
                       ", ".join(missed))


def parse_args(argv: Sequence[str] | None = None) -> tuple[Plan, Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default=DEFAULT_CONCURRENCY, help="comma-separated levels (default 1,16)")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per run, for ours and bare")
    parser.add_argument("--seed-requests", type=int, default=DEFAULT_SEED_REQUESTS, help="per run, for seed")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="uncounted requests before each run")
    parser.add_argument("--seed-warmup", type=int, default=DEFAULT_SEED_WARMUP, help="the same, for seed")
    parser.add_argument("--duration", help="run each measurement for this long instead (hey -z, e.g. 10s); "
                                           "requests that got no answer are then not counted as errors")
    parser.add_argument("--soak", type=int, default=0, help="then send this many requests at c=16 to ours and "
                                                            "report its workers' RSS before/after (e.g. 20000)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (the chart: .png)")
    args = parser.parse_args(argv)
    try:
        concurrency = parse_concurrency(args.concurrency)
    except ValueError as error:
        parser.error(str(error))
    plan = Plan(concurrency, args.requests, args.seed_requests, args.warmup, args.seed_warmup, args.duration,
                args.soak)
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
