"""`make bench`'s three servers, started side by side on free local ports and stopped together:

- ours: the real gunicorn service, exactly as `make run` serves it (config's WORKERS);
- seed: `python -m benchmarks.seed_server`, the naive seed-style server (Flask dev server, Keras predict());
- bare: benchmarks/bare_server.py, Flask doing no model work, on the same gunicorn worker and settings.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

import config
from benchmarks.figures import BARE, HTTP_OK, OURS, SEED, BenchError
from benchmarks.hey import CONTENT_TYPE
from tooling.live_server import (
    REPO_ROOT,
    free_port,
    gunicorn_binary,
    spawn,
    start_server,
    stop_server,
    wait_until,
    wait_until_serving,
)
from tooling.processes import descendant_pids, rss_mb

logger = logging.getLogger("benchmarks.fleet")

SEED_MODULE = "benchmarks.seed_server"
BARE_APP = "benchmarks.bare_server:app"
# The service's worker (gevent's event loop, with its read and write limits): the same server stack for both.
SERVICE_WORKER_CLASS = "gunicorn_worker.EventWorker"
PREDICT_PATH = "/model/predict"
SAMPLE = REPO_ROOT / "samples" / "ankle-boot.png"  # what every server is sent
SAMPLE_LABEL = "Ankle boot"


@dataclass(frozen=True)
class ServedSettings:
    """The service's settings that ours and bare are both served with, and that the results record."""

    workers: int
    worker_connections: int
    backlog: int
    keepalive_s: float


def served_settings() -> ServedSettings:
    """The settings of the service the benchmark starts (config.SETTINGS, from this environment)."""
    settings = config.SETTINGS
    return ServedSettings(settings.workers, settings.max_connections, settings.backlog, settings.keepalive_timeout)


@dataclass
class Server:
    """A started server process and how to measure it."""

    name: str
    process: subprocess.Popen
    base_url: str
    log_path: Path
    workers_only: bool  # gunicorn: count the workers, not the master that only supervises them
    grpc_address: str | None = None  # ours: its gRPC side (host:port)

    @property
    def predict_url(self) -> str:
        return self.base_url + PREDICT_PATH

    def measured_pids(self) -> list[int]:
        below = descendant_pids(self.process.pid)
        return below if self.workers_only and below else [self.process.pid, *below]

    def rss_mb(self) -> float:
        return rss_mb(self.measured_pids())


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def start_ours(log_dir: Path, settings: ServedSettings) -> Server:
    """The service as `make run` serves it: tooling/live_server.py's command, with config's WORKERS (its own
    default env pins 1 worker; pass config's through explicitly)."""
    port, grpc_port = free_port(), free_port()
    log_path = log_dir / f"{OURS}.log"
    process = start_server(port, log_path, extra_env={"WORKERS": str(settings.workers)}, grpc_port=grpc_port)
    return Server(OURS, process, local_url(port), log_path, True, f"127.0.0.1:{grpc_port}")


def start_seed(log_dir: Path, settings: ServedSettings) -> Server:
    """The seed-style server, as a module from the repository root (settings: not its business)."""
    port = free_port()
    log_path = log_dir / f"{SEED}.log"
    process = spawn([sys.executable, "-m", SEED_MODULE, str(port)], log_path)
    return Server(SEED, process, local_url(port), log_path, False)


def start_bare(log_dir: Path, settings: ServedSettings) -> Server:
    """gunicorn with the service's worker class, workers, connection limit and keep-alive; `-c /dev/null` so that
    it does not pick up the service's gunicorn.conf.py from the working directory, no control socket (as the
    service). The worker reads its timeouts from config.SETTINGS itself."""
    port = free_port()
    log_path = log_dir / f"{BARE}.log"
    command = [
        gunicorn_binary(),
        "-c",
        os.devnull,
        "-k",
        SERVICE_WORKER_CLASS,
        "-w",
        str(settings.workers),
        "--worker-connections",
        str(settings.worker_connections),
        "--backlog",
        str(settings.backlog),
        "--keep-alive",
        str(math.ceil(settings.keepalive_s)),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--no-control-socket",
        BARE_APP,
    ]
    env = {**os.environ, "GRPC_PORT": "0"}  # the worker's own setting: no gRPC for an app without a model
    return Server(BARE, spawn(command, log_path, env), local_url(port), log_path, True)


def wait_for_predict(server: Server, body: bytes) -> dict:
    """Poll POST /model/predict with the benchmark's own body until it answers 200; returns its JSON."""

    def predicts() -> dict | None:
        answer = requests.post(server.predict_url, data=body, headers={"Content-Type": CONTENT_TYPE}, timeout=10)
        return answer.json() if answer.status_code == HTTP_OK else None

    try:
        return wait_until(server.process, server.log_path, predicts)
    except RuntimeError as error:
        raise BenchError(f"{server.name} {error}") from None


@contextmanager
def running_servers(log_dir: Path, body: bytes, settings: ServedSettings) -> Iterator[dict[str, Server]]:
    """All three servers, started together (they load in parallel), each answering a real predict request."""
    with ExitStack() as stack:
        servers = {}
        for start in (start_ours, start_bare, start_seed):
            server = start(log_dir, settings)
            stack.callback(stop_server, server.process)
            servers[server.name] = server
        try:
            wait_until_serving(servers[OURS].process, servers[OURS].base_url, servers[OURS].log_path)
        except RuntimeError as error:
            raise BenchError(f"{OURS} server did not start: {error}") from None
        for server in servers.values():
            answer = wait_for_predict(server, body)
            top = (answer.get("predictions") or [{}])[0]
            logger.info(
                "%s serves at %s (pid %d); top answer %s %.3f",
                server.name,
                server.base_url,
                server.process.pid,
                top.get("label"),
                top.get("probability", float("nan")),
            )
            if server.name != BARE and top.get("label") != SAMPLE_LABEL:
                logger.warning(
                    "%s classifies %s as %s, not %s", server.name, SAMPLE.name, top.get("label"), SAMPLE_LABEL
                )
        yield servers
