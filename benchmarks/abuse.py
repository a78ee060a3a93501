"""`python -m benchmarks.abuse`: normal predictions while other clients abuse the server's connections, for the
service as it was (`--baseline`, a git ref: gthread workers) and as it is, started side by side in one run.

Each scenario is run against one server at a time, the servers alternating, each started as `make run`
starts it (config's WORKERS, every other setting at its default):

- idle: 1 000 TCP connections opened, nothing sent;
- slow-headers: 64 clients sending a request head one byte a second;
- slow-bodies: 64 clients sending a whole head that promises a 100 000-byte body, then one byte a second;
- reconnect: 64 slow-header and 64 slow-body clients that open a new connection as soon as one is cut; the
  normal predictions start once the server has cut a first one (the server's own timeout: up to 30 s).

During each, 20 normal POST /model/predict (samples/ankle-boot.png, a new connection each, one every 0.2 s,
10 s client timeout) are timed; the table gives how many were answered 200, their median and slowest
latency, and how many abusive connections the server cut meanwhile. Prints the table, exits 0 unless a server
failed to start. Run it on an otherwise idle machine for figures worth quoting.

Usage: python -m benchmarks.abuse [--baseline 1b6bfdb] [--scenarios idle,slow-headers,slow-bodies,reconnect]
                                  [--predictions 20]
"""

from __future__ import annotations

import argparse
import io
import logging
import selectors
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

import config
from tooling.live_server import REPO_ROOT, serving

logger = logging.getLogger("benchmarks.abuse")

SAMPLE = REPO_ROOT / "samples" / "ankle-boot.png"
DEFAULT_BASELINE = "1b6bfdb"  # the last commit served by gunicorn's gthread workers
IDLE_CONNECTIONS = 1000
SLOW_CLIENTS = 64
PREDICTIONS = 20
PREDICTION_INTERVAL_S = 0.2
CLIENT_TIMEOUT_S = 10.0
SETTLE_S = 3.0  # abusers connected and sending before the first normal prediction (gthread takes ~2 s to fill)
FIRST_CUT_WAIT_S = 40.0  # the reconnect scenario waits this long at most for the server to cut someone
TRICKLE_INTERVAL_S = 1.0
SLOW_HEAD = b"POST /model/predict HTTP/1.1\r\nHost: x\r\nX-Slow: "
SLOW_BODY_HEAD = (
    b"POST /model/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
    b"Content-Length: 100000\r\n\r\n--x\r\n"
)


@dataclass
class Abuse:
    """One kind of abusive client: how many, what each sends first, whether it then trickles a byte a second."""

    count: int
    prefix: bytes = b""
    trickle: bool = False


SCENARIOS: dict[str, list[Abuse]] = {
    "idle": [Abuse(IDLE_CONNECTIONS)],
    "slow-headers": [Abuse(SLOW_CLIENTS, SLOW_HEAD, trickle=True)],
    "slow-bodies": [Abuse(SLOW_CLIENTS, SLOW_BODY_HEAD, trickle=True)],
    "reconnect": [Abuse(SLOW_CLIENTS, SLOW_HEAD, trickle=True), Abuse(SLOW_CLIENTS, SLOW_BODY_HEAD, trickle=True)],
}
RECONNECTING = {"reconnect"}


@dataclass
class _Connection:
    abuse: Abuse
    sock: socket.socket


@dataclass
class AbusiveClients:
    """Abusive connections held open by one background thread (a context manager).

    Each connection sends its abuse's prefix, then (trickle) one more byte every TRICKLE_INTERVAL_S. A
    connection the server closes (or resets) counts as cut; with reconnect, it is replaced at once by a new
    one that starts over. Everything is closed on exit.
    """

    host: str
    port: int
    abuses: list[Abuse]
    reconnect: bool = False
    cuts: int = 0
    first_cut_at: float | None = None
    failed_connects: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> AbusiveClients:
        for abuse in self.abuses:
            for _ in range(abuse.count):
                self._open(abuse)
        self._thread = threading.Thread(target=self._run, name="abusers", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        for key in list(self._selector.get_map().values()):
            self._close(key.data)
        self._selector.close()

    @property
    def open_connections(self) -> int:
        return len(self._selector.get_map())

    def wait_for_first_cut(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.first_cut_at is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.first_cut_at is not None

    def _open(self, abuse: Abuse) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
            sock.setblocking(False)
            if abuse.prefix:
                sock.send(abuse.prefix)
        except OSError:
            self.failed_connects += 1
            return
        self._selector.register(sock, selectors.EVENT_READ, _Connection(abuse, sock))

    def _close(self, connection: _Connection) -> None:
        try:
            self._selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        connection.sock.close()

    def _run(self) -> None:
        next_trickle = time.monotonic() + TRICKLE_INTERVAL_S
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                self._read(key.data)
            if time.monotonic() >= next_trickle:
                next_trickle += TRICKLE_INTERVAL_S
                for key in list(self._selector.get_map().values()):
                    if key.data.abuse.trickle:
                        self._send_byte(key.data)

    def _read(self, connection: _Connection) -> None:
        try:
            if connection.sock.recv(65536):
                return  # an answer (a 408, say): the close follows
        except BlockingIOError:
            return
        except OSError:
            pass
        self._cut(connection)

    def _send_byte(self, connection: _Connection) -> None:
        try:
            connection.sock.send(b"a")
        except BlockingIOError:
            pass
        except OSError:
            self._cut(connection)

    def _cut(self, connection: _Connection) -> None:
        self._close(connection)
        self.cuts += 1
        if self.first_cut_at is None:
            self.first_cut_at = time.monotonic()
        if self.reconnect and not self._stop.is_set():
            self._open(connection.abuse)


def predict_once(url: str, image: bytes, timeout_s: float = CLIENT_TIMEOUT_S) -> float | None:
    """Seconds one POST /model/predict took on a new connection, or None if it was not answered 200 in time."""
    started = time.perf_counter()
    try:
        with requests.Session() as session:
            response = session.post(
                f"{url}/model/predict", files={"image": ("ankle-boot.png", image)}, timeout=timeout_s
            )
    except requests.RequestException:
        return None
    return time.perf_counter() - started if response.status_code == 200 else None


def timed_predictions(
    url: str, count: int = PREDICTIONS, interval_s: float = PREDICTION_INTERVAL_S, timeout_s: float = CLIENT_TIMEOUT_S
) -> list[float | None]:
    """count predictions started interval_s apart (each in its own thread, so a stuck one delays no other)."""
    image = SAMPLE.read_bytes()
    with ThreadPoolExecutor(count) as pool:
        futures = []
        for _ in range(count):
            futures.append(pool.submit(predict_once, url, image, timeout_s))
            time.sleep(interval_s)
        return [future.result() for future in futures]


@dataclass
class Outcome:
    server: str
    scenario: str
    latencies_s: list[float | None]
    cuts: int
    failed_connects: int

    @property
    def answered(self) -> list[float]:
        return [latency for latency in self.latencies_s if latency is not None]

    def row(self) -> str:
        answered = self.answered
        median = f"{statistics.median(answered) * 1000:.1f}" if answered else "-"
        slowest = f"{max(answered) * 1000:.1f}" if answered else "-"
        return (
            f"{self.server:<10}{self.scenario:<14}{len(answered):>4}/{len(self.latencies_s):<4}"
            f"{median:>11}{slowest:>11}{self.cuts:>7}{self.failed_connects:>9}"
        )


def run_scenario(server: str, url: str, port: int, scenario: str, predictions: int) -> Outcome:
    reconnect = scenario in RECONNECTING
    with AbusiveClients("127.0.0.1", port, SCENARIOS[scenario], reconnect=reconnect) as abusers:
        time.sleep(SETTLE_S)
        if reconnect and not abusers.wait_for_first_cut(FIRST_CUT_WAIT_S):
            logger.warning("%s: no abusive connection was cut within %.0f s", server, FIRST_CUT_WAIT_S)
        latencies = timed_predictions(url, predictions)
        cuts, failed = abusers.cuts, abusers.failed_connects
    logger.info("%s %s: %d of %d answered", server, scenario, sum(x is not None for x in latencies), predictions)
    return Outcome(server, scenario, latencies, cuts, failed)


def served_env() -> dict[str, str]:
    """Each server is started
    as `make run` starts it, with config's WORKERS, and without a log line per request."""
    return {"WORKERS": str(config.SETTINGS.workers), "REQUEST_LOG": "false"}


def export_tree(ref: str, directory: Path) -> Path:
    """The files of a git commit, without touching the repository (no worktree, no checkout)."""
    archive = subprocess.run(["git", "archive", ref], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref of the old server ('' to skip it)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, of: " + ", ".join(SCENARIOS))
    parser.add_argument("--predictions", type=int, default=PREDICTIONS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scenarios = [name for name in args.scenarios.split(",") if name]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="abuse-") as scratch:
        trees = {"now": REPO_ROOT}
        if args.baseline:
            trees[args.baseline] = export_tree(args.baseline, Path(scratch) / "baseline")
        for scenario in scenarios:
            for name, tree in trees.items():  # one server at a time: the other is not competing for the CPU
                try:
                    with serving(Path(scratch) / f"{name}.log", served_env(), cwd=tree) as server:
                        predict_once(server.url, SAMPLE.read_bytes())  # warm
                        outcomes.append(run_scenario(name, server.url, server.port, scenario, args.predictions))
                except RuntimeError as error:
                    logger.error("%s server did not start: %s", name, error)
                    return 1
    header = f"{'server':<10}{'scenario':<14}{'answered':<9}{'median ms':>11}{'max ms':>11}{'cuts':>7}{'refused':>9}"
    sys.stdout.write("\n".join(["", header, "-" * len(header), *(o.row() for o in outcomes), ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
