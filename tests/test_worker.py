"""gunicorn_worker.EventWorker: each limit on a connection and the sharing of connections between workers,
against a real 2-worker server with short timeouts; the middleware that reads a body whole before the app.

The abuse scenarios (1 000 idle connections, slow clients, reconnecting clients) are in test_connections.py.
Every server test owns its server (owns_server): its settings, and its log to tell which worker served.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import config
from gunicorn_worker import BodyBufferFullError, BodyFirst
from tests.imaging import sample_files
from tooling.bursts import REQUEST_LINE, run_burst, two_workers
from tooling.live_server import REPO_ROOT, free_port, start_server, stop_server, wait_for_workers, wait_until_serving

HEADER_TIMEOUT_S, KEEPALIVE_TIMEOUT_S, BODY_TIMEOUT_S, SEND_TIMEOUT_S = 2, 1, 2, 3
THREADS = 4  # per worker, of 2
BURST = 2 * THREADS  # one connection per request thread of the whole server
BURSTS = 3
# Far longer than a loaded machine takes to schedule the other worker, so that the split is certain.
SHARING_YIELD_MS = 300
SLACK_S = 2.0  # a loaded CI machine: a cut comes within its timeout plus this
SLOW_HEAD = b"POST /model/predict HTTP/1.1\r\nHost: x\r\nX-Slow: "
V2_INFER = f"/v2/models/{config.SETTINGS.v2_model_name}/infer"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    log_path = tmp_path_factory.mktemp("worker") / "gunicorn.log"
    port = free_port()
    process = start_server(
        port,
        log_path,
        {
            "WORKERS": "2",
            "THREADS": str(THREADS),
            "HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
            "KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT_S),
            "BODY_TIMEOUT": str(BODY_TIMEOUT_S),
            "SEND_TIMEOUT": str(SEND_TIMEOUT_S),
        },
    )
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}", log_path)
        wait_for_workers(log_path, 2)
        yield port, log_path
    finally:
        stop_server(process)


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float | None]:
    """Everything the server sends until it closes the connection (or resets it); the seconds that took, or
    None if it was still open after within_s."""
    started = time.monotonic()
    received = []
    while (left := within_s - (time.monotonic() - started)) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return b"".join(received), time.monotonic() - started
        if not chunk:
            return b"".join(received), time.monotonic() - started
        received.append(chunk)
    return b"".join(received), None


def trickle_until_closed(sock: socket.socket, within_s: float, every_s: float = 0.25) -> tuple[bytes, float | None]:
    """One byte every every_s, reading meanwhile, until the server closes the connection."""
    started = time.monotonic()
    received = []
    while time.monotonic() - started < within_s:
        try:
            sock.send(b"a")
        except OSError:  # closed or reset
            return b"".join(received), time.monotonic() - started
        data, closed_after = read_until_closed(sock, every_s)
        received.append(data)
        if closed_after is not None:
            return b"".join(received), time.monotonic() - started
    return b"".join(received), None


@pytest.mark.integration
@pytest.mark.owns_server
def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer, closed_after = read_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert closed_after is not None, "still open"
    assert answer == b"" and closed_after >= HEADER_TIMEOUT_S - 0.5


@pytest.mark.integration
@pytest.mark.owns_server
def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(SLOW_HEAD)
        answer, closed_after = trickle_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert closed_after is not None, "a client trickling its head held the connection past HEADER_TIMEOUT"
    assert answer == b"" and closed_after >= HEADER_TIMEOUT_S - 0.5


@pytest.mark.integration
@pytest.mark.owns_server
@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/model/predict",
            {"status": "error", "message": f"The request body did not arrive within {BODY_TIMEOUT_S} s."},
        ),
        (V2_INFER, {"error": f"The request body did not arrive within {BODY_TIMEOUT_S} s."}),
    ],
    ids=["predict", "v2"],
)
def test_a_body_sent_a_byte_at_a_time_gets_a_json_408_and_the_connection_closes(server, path, body):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            "Content-Length: 100000\r\n\r\n--x\r\n".encode()
        )
        answer, closed_after = trickle_until_closed(sock, BODY_TIMEOUT_S + SLACK_S)
    assert closed_after is not None, "a client trickling its body held the connection past BODY_TIMEOUT"
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:300]
    headers = head.decode().lower()
    assert "connection: close" in headers and "content-type: application/json" in headers
    assert "x-content-type-options: nosniff" in headers
    assert json.loads(content) == body


@pytest.mark.integration
@pytest.mark.owns_server
def test_a_keep_alive_connection_is_reused_then_closed_when_idle_past_the_keepalive_timeout(server):
    port, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/model/labels")
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Connection") == "keep-alive"
            response.read()
            time.sleep(KEEPALIVE_TIMEOUT_S / 4)
        answer, closed_after = read_until_closed(connection.sock, KEEPALIVE_TIMEOUT_S + SLACK_S)
        assert answer == b"" and closed_after is not None, "an idle keep-alive connection stayed open"
    finally:
        connection.close()


@pytest.mark.integration
@pytest.mark.owns_server
def test_a_client_that_does_not_take_its_answers_is_cut_off(server):
    """Ten 1 MB Swagger UI bundles asked for at once and never read: the server's writes stall, and after
    SEND_TIMEOUT without progress it closes the connection (a thread-per-connection server would wait forever)."""
    port, _ = server
    request = b"GET /swaggerui/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request * 10)
        time.sleep(SEND_TIMEOUT_S + SLACK_S)
        answer, closed_after = read_until_closed(sock, 10)
    assert closed_after is not None, "the server still held the connection of a client that took nothing"
    assert answer.startswith(b"HTTP/1.1 200 OK") and len(answer) < 10 * 1_000_000, len(answer)


@pytest.fixture(scope="module")
def sharing_server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """Two workers that each pause ACCEPT_YIELD_MS (long here) once they hold THREADS connections."""
    log_path = tmp_path_factory.mktemp("sharing") / "gunicorn.log"
    with two_workers(log_path, THREADS, SHARING_YIELD_MS) as port:
        yield port, log_path


@pytest.mark.integration
@pytest.mark.owns_server
def test_a_burst_of_keep_alive_connections_is_shared_between_the_workers(sharing_server):
    """A worker that holds THREADS connections pauses its accepts, so the other worker takes the rest of a burst
    (SharingServer). With a pause far longer than any scheduling delay, every burst splits evenly; how often
    the default 2 ms pause achieves it on a loaded machine is a measurement: `python -m benchmarks.sharing`."""
    port, log_path = sharing_server
    splits = []
    for _ in range(BURSTS):
        # A worker that just ended a pause accepts freely for one more ACCEPT_YIELD_MS: each burst comes after.
        time.sleep(3 * SHARING_YIELD_MS / 1000)
        splits.append(run_burst(port, log_path, BURST))
    assert all(split == [THREADS, THREADS] for split in splits), f"connections per worker: {splits}"


@pytest.mark.integration
@pytest.mark.owns_server
def test_a_worker_is_replaced_after_max_requests_without_failing_a_request(tmp_path):
    """MAX_REQUESTS recycling under the event loop: past the count, the worker answers with `Connection: close`,
    stops accepting (within a second) and exits once its connections are done; gunicorn starts another, and a
    keep-alive client sees no failed request meanwhile."""
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    process = start_server(port, log_path, {"MAX_REQUESTS": "20", "MAX_REQUESTS_JITTER": "0"})
    url = f"http://127.0.0.1:{port}"
    statuses, served_by = [], set()
    try:
        wait_until_serving(process, url, log_path)
        boot = next(p for p in sample_files() if p.name == "ankle-boot.png").read_bytes()
        deadline = time.monotonic() + 120
        with requests.Session() as session:
            while len(served_by) < 3 and time.monotonic() < deadline:
                for _ in range(10):
                    statuses.append(
                        session.post(f"{url}/model/predict", files={"image": ("b.png", boot)}, timeout=30).status_code
                    )
                    time.sleep(0.05)
                served_by = set(REQUEST_LINE.findall(log_path.read_text()))
    finally:
        stop_server(process)
    assert len(served_by) >= 3, f"workers that served: {served_by}"
    assert set(statuses) == {200}, statuses


# --- BodyFirst, in-process --------------------------------------------------------------------------------


def call(middleware: BodyFirst, environ: dict) -> dict:
    seen = {"oversized": False}
    middleware.oversized = lambda: seen.update(oversized=True)

    def app(env, start_response):
        seen["body"] = env["wsgi.input"].read()
        seen["input"] = env["wsgi.input"]
        start_response("200 OK", [])
        return [b""]

    middleware.app = app
    middleware(environ, lambda *args: None)
    return seen


def test_a_body_is_read_whole_and_handed_to_the_app_in_memory():
    stream = io.BufferedReader(io.BytesIO(b"x" * 1000))
    seen = call(BodyFirst(None, 10_000, 5, 10**6), {"CONTENT_LENGTH": "1000", "wsgi.input": stream})
    assert seen["body"] == b"x" * 1000 and isinstance(seen["input"], io.BytesIO)
    assert not seen["oversized"]


def test_a_chunked_body_is_read_up_to_one_byte_past_the_limit():
    """The app then refuses it with its own 413 (Werkzeug's limit on a stream of unknown length), and the
    connection is closed after the answer rather than read to its end."""
    stream = io.BytesIO(b"x" * 5000)
    seen = call(BodyFirst(None, 1000, 5, 10**6), {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream})
    assert seen["body"] == b"x" * 1001 and seen["oversized"]
    seen = call(BodyFirst(None, 1000, 5, 10**6), {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"ab")})
    assert seen["body"] == b"ab" and not seen["oversized"]


def test_a_body_declared_over_the_limit_is_left_unread_for_the_app_to_refuse():
    stream = io.BytesIO(b"x" * 5000)
    seen = call(BodyFirst(None, 1000, 5, 10**6), {"CONTENT_LENGTH": "5000", "wsgi.input": stream})
    assert seen["input"] is stream and seen["body"] == b"x" * 5000 and seen["oversized"]


def test_a_request_without_a_body_is_passed_on_as_it_is():
    stream = io.BytesIO(b"")
    seen = call(BodyFirst(None, 1000, 5, 10**6), {"REQUEST_METHOD": "GET", "wsgi.input": stream})
    assert seen["input"] is stream and not seen["oversized"]


def test_bodies_over_the_buffer_budget_are_refused_and_the_budget_is_given_back():
    middleware = BodyFirst(None, 10_000, 5, 3000)
    middleware.held_bytes = 2500  # other bodies being received
    with pytest.raises(BodyBufferFullError):
        call(middleware, {"CONTENT_LENGTH": "1000", "wsgi.input": io.BytesIO(b"x" * 1000)})
    assert middleware.held_bytes == 2500
    middleware.held_bytes = 0
    assert call(middleware, {"CONTENT_LENGTH": "1000", "wsgi.input": io.BytesIO(b"x" * 1000)})["body"] == b"x" * 1000
    assert middleware.held_bytes == 0


def test_the_worker_raises_its_open_file_limit_for_its_connections():
    """In a process of its own, started with a soft limit of 256 (a container's may be 1 024)."""
    script = (
        "import logging, resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from gunicorn_worker import raise_file_limit\n"
        "raise_file_limit(min(2256, hard), logging.getLogger())\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    soft, hard = int(output[0]), int(output[1])
    assert soft == min(2256, hard) and soft > 256


# --- The private parts of gunicorn and gevent the worker leans on (gunicorn_worker.PRIVATE_HOOKS) ---


def resolve(where: str) -> object:
    """ "module:attribute.attribute" → the object (AttributeError or ImportError when it is gone)."""
    import importlib

    module_name, _, attributes = where.partition(":")
    found: object = importlib.import_module(module_name)
    for name in attributes.split("."):
        found = getattr(found, name)
    return found


def test_the_private_hooks_were_checked_against_the_installed_and_pinned_versions():
    """A routine upgrade of gunicorn or gevent fails here, saying what to re-check, before behaviour tests do."""
    from importlib.metadata import version

    from gunicorn_worker import HOOKS_CHECKED_WITH, PRIVATE_HOOKS

    requirements = (REPO_ROOT / "requirements.txt").read_text()
    for package, checked in HOOKS_CHECKED_WITH.items():
        hooks = "\n".join(f"  {hook.where}: {hook.why}" for hook in PRIVATE_HOOKS if hook.package == package)
        advice = (
            f"gunicorn_worker.py leans on these parts of {package}, checked with {checked}; re-check each "
            f"against the new version, then update HOOKS_CHECKED_WITH:\n{hooks}"
        )
        assert version(package) == checked, f"{package} {version(package)} is installed. {advice}"
        assert f"\n{package}=={checked}\n" in requirements, f"requirements.txt pins another {package}. {advice}"


def test_every_private_hook_is_still_there():
    from gunicorn_worker import HOOKS_CHECKED_WITH, PRIVATE_HOOKS

    assert {hook.package for hook in PRIVATE_HOOKS} == set(HOOKS_CHECKED_WITH)
    missing = []
    for hook in PRIVATE_HOOKS:
        try:
            resolve(hook.where)
        except (ImportError, AttributeError):
            missing.append(f"{hook.where} ({hook.why})")
    assert missing == [], "gone from the installed gunicorn/gevent: " + "; ".join(missing)


def test_a_hook_that_is_gone_is_reported():
    with pytest.raises(AttributeError):
        resolve("gunicorn.workers.ggevent:GeventWorker.no_such_hook")
