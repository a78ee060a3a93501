"""Start and stop the real gunicorn server (or another server process) on a free localhost port, so that tests,
benchmarks and scripts talk to the service exactly as `make run` serves it; or name a service already running
(SERVICE_URL: a container, `make run` elsewhere) for the tests to talk to instead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 120
POLL_INTERVAL_S = 0.5
LOG_TAIL_CHARS = 4000  # of a server's log, in the error when it did not start
# gunicorn.conf.py makes a fresh metrics folder where this is unset: each server started here gets its own.
SHARED_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A running service's base URL (`make test-service SERVICE_URL=http://localhost:5000`): the integration tests talk
# to it instead of starting a server, and those that need a server of their own are skipped.
SERVICE_URL_ENV = "SERVICE_URL"
READY_PATH = "/v2/health/ready"
# The running service's gRPC address (host:port); where it is unset, SERVICE_URL's host on the default GRPC_PORT.
SERVICE_GRPC_ENV = "SERVICE_GRPC_ADDRESS"
DEFAULT_GRPC_PORT = 8081
SERVICE_CHECK_TIMEOUT_S = 10

T = TypeVar("T")


def service_url() -> str | None:
    """SERVICE_URL without a trailing slash; None where it is unset or empty."""
    return os.environ.get(SERVICE_URL_ENV, "").strip().rstrip("/") or None


def service_grpc_address(url: str) -> str:
    """The gRPC address of the service at `url`: SERVICE_GRPC_ADDRESS, or url's host on port 8081."""
    explicit = os.environ.get(SERVICE_GRPC_ENV, "").strip()
    if explicit:
        return explicit
    return f"{urlsplit(url).hostname}:{DEFAULT_GRPC_PORT}"


def check_service(url: str) -> str:
    """url, once GET url/v2/health/ready has answered {"ready": true}; RuntimeError saying what it got instead."""
    if not url.startswith(("http://", "https://")):
        raise RuntimeError(f"{SERVICE_URL_ENV}={url!r} is not a base URL: give one such as http://localhost:5000")
    try:
        response = requests.get(f"{url}{READY_PATH}", timeout=SERVICE_CHECK_TIMEOUT_S)
        body = response.json() if response.status_code == 200 else None
        if isinstance(body, dict) and body.get("ready") is True:
            return url
        found = f"HTTP {response.status_code}: {response.text[:200]!r}"
    except (requests.RequestException, ValueError) as error:  # no answer, or not JSON
        found = f"{type(error).__name__}: {error}"
    expected = '{"ready": true}'
    raise RuntimeError(
        f"{SERVICE_URL_ENV}={url} is not a ready service: GET {READY_PATH} answered {found}, not "
        f"{expected}. Start it and wait until it is ready, or unset {SERVICE_URL_ENV} to let the "
        "tests start servers of their own."
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_binary() -> str:
    """The gunicorn of the interpreter running this (the project's virtual environment)."""
    return str(Path(sys.executable).with_name("gunicorn"))


def spawn(
    command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None, cwd: Path = REPO_ROOT
) -> subprocess.Popen:
    """A server process writing stdout and stderr to log_path (a pipe can fill); env None: this one's."""
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            list(command), cwd=cwd, env=None if env is None else dict(env), stdout=log, stderr=subprocess.STDOUT
        )


def start_server(
    port: int,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path = REPO_ROOT,
    grpc_port: int | None = None,
) -> subprocess.Popen:
    """The same gunicorn command as `make run`, from the tree cwd, on a port of its own (and a gRPC port of its
    own: a free one unless given), one worker unless extra_env says otherwise, logging to a file."""
    inherited = {name: value for name, value in os.environ.items() if name != SHARED_METRICS_ENV}
    env = {
        **inherited,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GRPC_PORT": str(free_port() if grpc_port is None else grpc_port),
        "WORKERS": "1",
        **(extra_env or {}),
    }
    return spawn([gunicorn_binary(), "--config", "gunicorn.conf.py", "app:create_app()"], log_path, env, cwd)


def wait_until(
    process: subprocess.Popen, log_path: Path, ready: Callable[[], T | None], timeout_s: float = SERVER_START_TIMEOUT_S
) -> T:
    """Call ready() every POLL_INTERVAL_S until it returns something (None, or requests failing: not yet);
    RuntimeError, with the end of the log, if the process exits first or timeout_s pass."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()[-LOG_TAIL_CHARS:]}")
        try:
            answer = ready()
        except requests.RequestException:
            answer = None
        if answer is not None:
            return answer
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"server did not answer within {timeout_s:.0f} s:\n{log_path.read_text()[-LOG_TAIL_CHARS:]}")


def wait_until_serving(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    """Until GET /model/metadata answers 2xx."""

    def metadata_answers() -> bool:
        requests.get(f"{base_url}/model/metadata", timeout=2).raise_for_status()
        return True

    wait_until(process, log_path, metadata_answers)


def wait_for_workers(log_path: Path, workers: int, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
    """Until every worker has loaded its model (wait_until_serving returns once the first one answers)."""
    deadline = time.monotonic() + timeout_s
    while log_path.read_text().count("warmed up") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers did not load the model:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 30 s; nothing for a process that has already exited."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class LiveServer:
    """A started gunicorn server: its process (the master), ports and log."""

    process: subprocess.Popen
    port: int
    log_path: Path
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@contextmanager
def serving(log_path: Path, extra_env: dict[str, str] | None = None, *, cwd: Path = REPO_ROOT) -> Iterator[LiveServer]:
    """start_server on free ports, answering, for the duration of the block; stopped after it."""
    port, grpc_port = free_port(), free_port()
    process = start_server(port, log_path, extra_env, cwd=cwd, grpc_port=grpc_port)
    server = LiveServer(process, port, log_path, grpc_port)
    try:
        wait_until_serving(server.process, server.url, log_path)
        yield server
    finally:
        stop_server(server.process)


@contextmanager
def running_server(log_path: Path) -> Iterator[str]:
    """A gunicorn server on a free port for the duration of the block; yields its base URL."""
    with serving(log_path) as server:
        yield server.url


@dataclass(frozen=True)
class Endpoints:
    """Where a service answers: HTTP (base URL) and gRPC (host:port)."""

    url: str
    grpc_address: str
