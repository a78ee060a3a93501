"""Bursts of keep-alive connections against a multi-worker server, and how the workers shared them out: used by
tests/test_worker.py (sharing holds with a long ACCEPT_YIELD_MS) and benchmarks/sharing.py (how often it holds
with the default on this machine)."""

from __future__ import annotations

import http.client
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tooling.live_server import serving, wait_for_workers

# One log line per answered request, with the worker's pid (REQUEST_LOG, gunicorn's log format).
REQUEST_LINE = re.compile(r"\[(\d+)\] max_fashion_mnist\.requests: (?:GET|POST) /model/\w+ 200")
LOG_WAIT_S = 10.0


def served_per_worker(log_path: Path) -> list[str]:
    """The pid of the worker that served each logged request, in order."""
    return REQUEST_LINE.findall(log_path.read_text())


def run_burst(port: int, log_path: Path, burst: int, workers: int = 2) -> list[int]:
    """`burst` connections opened together (as a client pool starts), then one request on each; how many each
    of the `workers` served, fewest first."""
    before = len(served_per_worker(log_path))
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(burst)]
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/model/labels")
        for connection in connections:
            response = connection.getresponse()
            if response.status != 200:
                raise RuntimeError(f"burst request answered {response.status}")
            response.read()
    finally:
        for connection in connections:
            connection.close()
    deadline = time.monotonic() + LOG_WAIT_S  # the log lines are written just after the answers
    while len(lines := served_per_worker(log_path)[before:]) < burst and time.monotonic() < deadline:
        time.sleep(0.05)
    shares = Counter(lines)
    return sorted([0] * (workers - len(shares)) + list(shares.values()))


@contextmanager
def two_workers(log_path: Path, threads: int, accept_yield_ms: float) -> Iterator[int]:
    """A 2-worker server with `threads` request threads each and that accept pause, both workers loaded;
    yields its port."""
    with serving(
        log_path, {"WORKERS": "2", "THREADS": str(threads), "ACCEPT_YIELD_MS": str(accept_yield_ms)}
    ) as server:
        wait_for_workers(log_path, 2)
        yield server.port
