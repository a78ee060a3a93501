"""Start and stop the real gunicorn server on a free localhost port, so the integration tests talk to the
service exactly as `make run` serves it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, log_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """The same gunicorn command as `make run`, on a port of its own, logging to a file (a pipe can fill)."""
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": "1",
           **(extra_env or {})}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen([str(gunicorn), "--config", "gunicorn.conf.py", "app:create_app()"],
                            cwd=REPO_ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def wait_until_serving(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            requests.get(f"{base_url}/model/metadata", timeout=2).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer within {SERVER_START_TIMEOUT_S} s")


def wait_for_workers(log_path: Path, workers: int, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
    """Until every worker has loaded its model (wait_until_serving returns once the first one answers)."""
    deadline = time.monotonic() + timeout_s
    while log_path.read_text().count("warmed up") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers did not load the model:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_server(log_path: Path) -> Iterator[str]:
    """A gunicorn server on a free port for the duration of the block; yields its base URL."""
    port = free_port()
    process = start_server(port, log_path)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        stop_server(process)
