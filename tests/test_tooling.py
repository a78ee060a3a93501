"""tooling/: starting and waiting for a server process, and a process tree's pids and memory (psutil); the
suite against a running service (SERVICE_URL, `make test-service`)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import tooling.live_server as live_server
from tests.conftest import OWNS_SERVER_SKIP
from tests.processes import start_parent_with_a_child
from tooling.live_server import (
    REPO_ROOT,
    SERVICE_URL_ENV,
    check_service,
    free_port,
    service_url,
    spawn,
    start_server,
    stop_server,
    wait_until,
)
from tooling.processes import descendant_pids, rss_mb


def test_descendants_and_their_memory(tmp_path):
    process = start_parent_with_a_child(tmp_path / "parent.log")
    try:
        (child,) = descendant_pids(process.pid)
        assert rss_mb([child]) > 1
        assert rss_mb([process.pid, child]) == pytest.approx(rss_mb([process.pid]) + rss_mb([child]), rel=0.1)
    finally:
        os.kill(child, signal.SIGKILL)
        stop_server(process)
    assert descendant_pids(process.pid) == []  # gone: no process, no descendants
    assert rss_mb([process.pid]) == 0


def test_wait_until_returns_what_the_probe_answers_and_says_why_it_stopped(tmp_path):
    log_path = tmp_path / "server.log"
    sleeper = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path)
    try:
        answers = iter([None, {"ready": True}])
        assert wait_until(sleeper, log_path, lambda: next(answers)) == {"ready": True}
        with pytest.raises(RuntimeError, match="did not answer within 1 s"):
            wait_until(sleeper, log_path, lambda: None, timeout_s=1)
    finally:
        stop_server(sleeper)
    failing = spawn([sys.executable, "-c", "print('no model'); raise SystemExit(3)"], log_path)
    with pytest.raises(RuntimeError, match="exited with 3:\nno model"):
        wait_until(failing, log_path, lambda: None)


def test_each_started_server_gets_its_own_metrics_folder_and_the_tree_asked_for(monkeypatch, tmp_path):
    started = {}
    monkeypatch.setattr(live_server, "spawn", lambda command, log_path, env, cwd: started.update(env=env, cwd=cwd))
    monkeypatch.setenv(live_server.SHARED_METRICS_ENV, str(tmp_path))
    start_server(5999, tmp_path / "server.log", {"WORKERS": "2"}, cwd=tmp_path)
    assert live_server.SHARED_METRICS_ENV not in started["env"]
    assert (started["env"]["PORT"], started["env"]["WORKERS"], started["cwd"]) == ("5999", "2", tmp_path)


# --- A running service instead of our own server (SERVICE_URL) -----------------------------------------------


@pytest.fixture()
def stub_service() -> Iterator[tuple[str, dict]]:
    """An HTTP server on localhost whose GET /v2/health/ready answers what answer["status"] and ["body"] say."""
    answer = {"status": 200, "body": b'{"ready": true}'}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = (answer["status"], answer["body"]) if self.path == "/v2/health/ready" else (404, b"")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()


def test_service_url_is_read_without_its_trailing_slash(monkeypatch):
    monkeypatch.setenv(SERVICE_URL_ENV, " http://localhost:5000/ ")
    assert service_url() == "http://localhost:5000"
    monkeypatch.setenv(SERVICE_URL_ENV, "")
    assert service_url() is None
    monkeypatch.delenv(SERVICE_URL_ENV)
    assert service_url() is None


def test_a_service_is_used_once_it_says_it_is_ready_and_otherwise_the_error_says_what_it_answered(stub_service):
    url, answer = stub_service
    assert check_service(url) == url
    for status, body, found in [
        (200, b'{"ready": false}', '{"ready": false}'),
        (503, b"starting", "HTTP 503"),
        (200, b"<html>", "JSONDecodeError"),
        (200, json.dumps([1]).encode(), "[1]"),
    ]:
        answer.update(status=status, body=body)
        with pytest.raises(RuntimeError, match="is not a ready service") as raised:
            check_service(url)
        assert found in str(raised.value) and f"unset {SERVICE_URL_ENV}" in str(raised.value)
    with pytest.raises(RuntimeError, match="ConnectionError"):
        check_service(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError, match="not a base URL"):
        check_service("localhost:5000")


def test_against_a_service_the_tests_owning_a_server_are_skipped_and_one_that_is_not_ready_is_an_error():
    """A pytest of its own, with SERVICE_URL naming a port nothing listens on: the tests marked owns_server are
    skipped with the reason (no server started), and a live_server test errors saying the service is not ready."""
    env = {**os.environ, SERVICE_URL_ENV: f"http://127.0.0.1:{free_port()}"}
    tests = ["tests/test_operations_server.py", "tests/test_server.py::test_metadata_and_labels_over_http"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rse", *tests],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert "passed" not in summary and "failed" not in summary, done.stdout[-3000:]
    assert " skipped" in summary and "1 error" in summary, done.stdout[-3000:]
    assert OWNS_SERVER_SKIP in done.stdout and "is not a ready service" in done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_test_service_without_service_url_says_what_it_needs():
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in (SERVICE_URL_ENV, "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    }
    done = subprocess.run(
        ["make", "test-service"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "make test-service needs SERVICE_URL" in done.stderr and "pip" not in done.stdout


# --- tooling/kube.py: the manifests and the kernel, for the benchmarks, kube-verify and the manifest tests ---


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (2, 2.0),
        ("1536Mi", 1536 * 2**20),
        ("1.5Gi", 1.5 * 2**30),
        ("1k", 1000.0),
        ("3M", 3e6),
    ],
)
def test_kubernetes_quantities_in_cores_or_bytes(text, value):
    from tooling.kube import quantity

    assert quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "Mi", "1.5.2Gi", "12 Mi", "3Qi", "-1"])
def test_anything_else_is_not_a_quantity(text):
    from tooling.kube import quantity

    with pytest.raises(ValueError, match="not a Kubernetes resource quantity"):
        quantity(text)


def test_the_deployments_container_and_its_literal_environment():
    from tooling.kube import manifest_container, manifest_env
    from tooling.live_server import REPO_ROOT

    container = manifest_container(REPO_ROOT / "deploy" / "kubernetes" / "deployment.yaml")
    env = manifest_env({"env": [{"name": "A", "value": 1}, {"name": "B", "valueFrom": {"fieldRef": {}}}]})
    assert env == {"A": "1"}
    assert "WORKERS" in manifest_env(container) and container["resources"]["limits"]["memory"]


def test_this_process_has_a_cgroup_to_read():
    from tooling.kube import cgroup_directory

    version, directory = cgroup_directory(os.getpid(), "memory")
    assert version in ("v1", "v2") and (directory is None or directory.is_relative_to("/sys/fs/cgroup"))
