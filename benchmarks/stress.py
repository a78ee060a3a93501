"""`make stress`: hard load and faults against the real server, with the figures the README quotes.

1. Mixed load: 20 000 requests at concurrency 32, spread over POST /model/predict, V2 infer (binary UINT8
   batch of one) and GET /model/metadata. Zero errors expected; p50/p99 per kind; the workers' RSS after the
   first and the last thousand requests (growth must stay under 10 %).
2. SIGKILL: one worker is killed under load; gunicorn must start a replacement and every request that was not
   on the killed worker must succeed (failures are counted and reported, they are at most its in-flight ones).
3. SIGTERM: the server is told to stop under load; the requests in flight must finish without an error.
4. Fuzzing: schemathesis sends requests generated from /swagger.json to every operation (more of them than the
   smoke test in `make test`): no 5xx, every answer as documented.

A Python load generator (threads with one keep-alive session each) is used rather than hey because the
requests are mixed and counted one by one; on 2 cores it takes part of the CPU, so these req/s are lower than
`make bench`'s. Exits 1 if a check fails.

Usage: python -m benchmarks.stress [--requests 20000] [--fault-requests 3000] [--concurrency 32]
                                   [--fuzz-examples 100] [--output benchmarks/results/stress.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

import config
from config import Settings
from tooling.live_server import REPO_ROOT, serving
from tooling.processes import descendant_pids, rss_mb

logger = logging.getLogger("benchmarks.stress")

SAMPLE = REPO_ROOT / "samples" / "ankle-boot.png"
EXPECTED_LABEL = "Ankle boot"
MAX_RSS_GROWTH = 0.10
WINDOW = 1000  # requests at the start and at the end whose RSS is compared
REQUEST_TIMEOUT_S = 30
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "stress.json"
FUZZ_SEED = 20261125  # a fixed seed: the same requests every run, so a failure can be replayed
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# By design: random bytes are a schema-valid "file" but not an image (400), and unknown extra form fields are
# tolerated (MAX clients send their own); the refusals that matter have tests of their own.
FUZZ_EXCLUDED_CHECKS = "positive_data_acceptance,negative_data_rejection"


def schemathesis_command(base_url: str, examples: int, seed: int | None = FUZZ_SEED) -> list[str]:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/swagger.json",
        "--max-examples",
        str(examples),
        "--checks",
        "all",
        "--exclude-checks",
        FUZZ_EXCLUDED_CHECKS,
        "--no-color",
    ]
    return command + (["--seed", str(seed)] if seed is not None else [])


def fuzz(base_url: str, examples: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:  # schemathesis writes its report folder in the cwd
        result = subprocess.run(  # noqa: S603 - our own fixed command
            schemathesis_command(base_url, examples),
            capture_output=True,
            text=True,
            cwd=scratch,
            check=False,
        )
    summary = [
        line
        for line in result.stdout.splitlines()
        if "generated" in line or "passed" in line or "failure" in line.lower()
    ]
    return {
        "examples_per_operation": examples,
        "exit_code": result.returncode,
        "summary": summary[-3:],
        "passed": result.returncode == 0,
    }


class Load:
    """Mixed requests from `concurrency` threads; records each one's kind, status and latency in order."""

    def __init__(self, base_url: str, settings: Settings) -> None:
        self.base_url = base_url
        self.settings = settings
        self.png = SAMPLE.read_bytes()
        pixels = np.asarray(Image.open(SAMPLE), dtype=np.uint8)
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 28, 28],
                        "datatype": "UINT8",
                        "parameters": {"binary_data_size": pixels.size},
                    }
                ],
                "outputs": [{"name": "label"}],
            }
        ).encode()
        self.v2_body, self.v2_header_length = header + pixels.tobytes(), str(len(header))
        self.results: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def one(self, index: int) -> None:
        kind = ("predict", "v2", "predict", "metadata")[index % 4]
        started = time.perf_counter()
        try:
            status = self.send(kind)
        except requests.RequestException:
            status = 0  # no answer: connection reset or refused
        with self.lock:
            self.results.append((kind, status, time.perf_counter() - started))

    def send(self, kind: str) -> int:
        session = self.session()
        if kind == "predict":
            response = session.post(
                f"{self.base_url}/model/predict", files={"image": ("boot.png", self.png)}, timeout=REQUEST_TIMEOUT_S
            )
            ok = response.ok and response.json()["predictions"][0]["label"] == EXPECTED_LABEL
        elif kind == "v2":
            response = session.post(
                f"{self.base_url}/v2/models/{self.settings.v2_model_name}/infer",
                data=self.v2_body,
                headers={"Inference-Header-Content-Length": self.v2_header_length},
                timeout=REQUEST_TIMEOUT_S,
            )
            ok = response.ok and response.json()["outputs"][0]["data"] == [EXPECTED_LABEL]
        else:
            response = session.get(f"{self.base_url}/model/metadata", timeout=REQUEST_TIMEOUT_S)
            ok = response.ok and response.json()["id"] == config.MODEL_ID
        return response.status_code if ok else -response.status_code  # negative: answered, but wrongly

    def errors(self) -> int:
        return sum(1 for _, status, _ in self.results if status != 200)


def percentiles_ms(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
    }


def mixed_load(base_url: str, master: int, total: int, concurrency: int, settings: Settings) -> dict:
    """Runs `total` requests; samples the workers' RSS after the first and before the last WINDOW."""
    load = Load(base_url, settings)
    rss_marks: dict[str, float] = {}

    def tracked(index: int) -> None:
        load.one(index)
        if index == WINDOW:
            rss_marks["after_first_window_mb"] = rss_mb(descendant_pids(master))
        elif index == total - WINDOW:
            rss_marks["before_last_window_mb"] = rss_mb(descendant_pids(master))

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(tracked, range(total)))
    seconds = time.perf_counter() - started
    rss_marks["end_mb"] = rss_mb(descendant_pids(master))
    by_kind = defaultdict(list)
    for kind, _, latency in load.results:
        by_kind[kind].append(latency)
    growth = rss_marks["end_mb"] / rss_marks["after_first_window_mb"] - 1
    return {
        "requests": total,
        "concurrency": concurrency,
        "errors": load.errors(),
        "statuses": dict(Counter(str(s) for _, s, _ in load.results)),
        "req_per_s": round(total / seconds, 1),
        **percentiles_ms([r[2] for r in load.results]),
        "by_kind": {kind: percentiles_ms(values) for kind, values in by_kind.items()},
        "rss_mb": {k: round(v, 1) for k, v in rss_marks.items()},
        "rss_growth": round(growth, 4),
        "passed": load.errors() == 0 and growth < MAX_RSS_GROWTH,
    }


def kill_a_worker_under_load(base_url: str, master: int, total: int, concurrency: int, settings: Settings) -> dict:
    """SIGKILL one worker a third of the way through; the other keeps serving and gunicorn replaces it."""
    load = Load(base_url, settings)
    before = descendant_pids(master)
    victim = before[0]

    def tracked(index: int) -> None:
        if index == total // 3:
            os.kill(victim, signal.SIGKILL)
        load.one(index)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(tracked, range(total)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        victim in descendant_pids(master) or len(descendant_pids(master)) < len(before)
    ):
        time.sleep(0.5)
    after = descendant_pids(master)
    replaced = victim not in after and len(after) == len(before)
    failures = load.errors()
    # A failure is tolerable only for the killed worker's connections: at most one request in flight per client.
    return {
        "requests": total,
        "concurrency": concurrency,
        "workers_before": before,
        "workers_after": after,
        "replaced": replaced,
        "errors": failures,
        "statuses": dict(Counter(str(s) for _, s, _ in load.results)),
        "passed": replaced and failures <= concurrency,
    }


def terminate_under_load(process, base_url: str, concurrency: int, settings: Settings) -> dict:
    """SIGTERM while `concurrency` requests are being served: all of those must be answered right."""
    load = Load(base_url, settings)
    in_flight = threading.Barrier(concurrency + 1)

    def one_after_barrier(index: int) -> None:
        in_flight.wait()
        load.one(index)

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one_after_barrier, i * 2) for i in range(concurrency)]  # predict and v2 only
        in_flight.wait()
        time.sleep(0.005)  # let the requests reach the server
        process.send_signal(signal.SIGTERM)
        for future in futures:
            future.result()
    exit_code = process.wait(timeout=settings.graceful_timeout + 30)
    refused_or_reset = sum(1 for _, status, _ in load.results if status == 0)
    wrong = sum(1 for _, status, _ in load.results if status not in (0, 200))
    return {
        "in_flight": concurrency,
        "answered_200": sum(1 for _, s, _ in load.results if s == 200),
        "not_accepted": refused_or_reset,
        "wrong_answers": wrong,
        "exit_code": exit_code,
        "passed": wrong == 0 and exit_code == 0 and refused_or_reset < concurrency,
    }


def run(args: argparse.Namespace) -> dict:
    settings = config.SETTINGS
    env = {"WORKERS": str(settings.workers), "REQUEST_LOG": "false"}
    with tempfile.TemporaryDirectory() as scratch, serving(Path(scratch) / "server.log", env) as server:
        url, master = server.url, server.process.pid
        logger.info("mixed load: %d requests at concurrency %d", args.requests, args.concurrency)
        mixed = mixed_load(url, master, args.requests, args.concurrency, settings)
        logger.info("fuzzing every operation with schemathesis (%d examples each)", args.fuzz_examples)
        fuzzed = fuzz(url, args.fuzz_examples)
        logger.info("SIGKILL of one worker under load")
        killed = kill_a_worker_under_load(url, master, args.fault_requests, args.concurrency, settings)
        logger.info("SIGTERM under load")
        terminated = terminate_under_load(server.process, url, args.concurrency, settings)
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.orig_argv),
        "nproc": os.cpu_count(),
        "workers": settings.workers,
        "worker_connections": settings.max_connections,
        "mixed_load": mixed,
        "fuzzing": fuzzed,
        "sigkill_worker": killed,
        "sigterm_drain": terminated,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stress", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--fault-requests", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fuzz-examples", type=int, default=100)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    checks = ("mixed_load", "fuzzing", "sigkill_worker", "sigterm_drain")
    failed = [name for name in checks if not report[name]["passed"]]
    if failed:
        logger.error("failed: %s (figures above; written to %s)", ", ".join(failed), args.output)
        return 1
    logger.info("all checks passed; written to %s", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
