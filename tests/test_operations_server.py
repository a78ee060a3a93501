"""Integration: /metrics merges both workers of a real gunicorn server; LOG_FORMAT=json logs JSON lines."""

import json
import signal
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.hey import CONTENT_TYPE, multipart_body
from tests.imaging import sample_files
from tooling.live_server import free_port, start_server, stop_server, wait_until_serving

# Every test owns its server: two workers and JSON logs read back (metrics counted from zero), SIGTERM, CORS_ENABLE.
pytestmark = [pytest.mark.integration, pytest.mark.owns_server]
REQUESTS = 12
SIGNAL_WAIT_S = 30  # a bound on waiting for an event, never a pause


@pytest.fixture(scope="module")
def json_logging_server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("ops") / "gunicorn.log"
    port = free_port()
    process = start_server(port, log_path, {"WORKERS": "2", "LOG_FORMAT": "json"})
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base_url, log_path)
        yield base_url, log_path
    finally:
        stop_server(process)


def test_metrics_count_every_request_across_workers(json_logging_server):
    base_url, _ = json_logging_server
    bag = next(p for p in sample_files() if p.name == "bag.png").read_bytes()
    for _ in range(REQUESTS):
        assert requests.post(f"{base_url}/model/predict", files={"image": ("bag.png", bag)}, timeout=30).ok
    response = requests.get(f"{base_url}/metrics", timeout=30)
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    posts = (("endpoint", "/model/predict"), ("method", "POST"), ("status", "200"))
    assert samples[("fashion_mnist_http_requests_total", posts)] == REQUESTS
    assert samples[("fashion_mnist_predictions_total", (("label", "Bag"),))] == REQUESTS
    assert samples[("fashion_mnist_model_load_seconds", ())] > 0


def test_json_logs_have_one_line_per_request(json_logging_server):
    base_url, log_path = json_logging_server
    requests.get(f"{base_url}/model/labels?probe=json-log", timeout=30)
    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    request_lines = [e for e in entries if e["logger"] == "max_fashion_mnist.requests"]
    assert any(e["path"] == "/model/labels" and e["status"] == 200 and e["duration_ms"] >= 0 for e in request_lines)
    assert any(e["logger"] == "core.model" and "warmed up" in e["message"] for e in entries)


def multipart_parts(filename: str, content: bytes) -> tuple[bytes, bytes, str]:
    """A multipart body cut in two, to send with a pause between the halves."""
    body = multipart_body("image", filename, content)
    return body[: len(body) // 2], body[len(body) // 2 :], CONTENT_TYPE


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    """The server is told to stop while it is still receiving a request: the second half of the body is sent
    only once gunicorn has logged the signal, and the request is still answered."""
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    process = start_server(port, log_path)
    base_url = f"http://127.0.0.1:{port}"
    first, second, content_type = multipart_parts(
        "bag.png", next(p for p in sample_files() if p.name == "bag.png").read_bytes()
    )
    first_sent, signalled, answers = threading.Event(), threading.Event(), []

    def slow_body():
        yield first
        first_sent.set()
        signalled.wait(SIGNAL_WAIT_S)
        yield second

    def post():
        answers.append(
            requests.post(
                f"{base_url}/model/predict", data=slow_body(), headers={"Content-Type": content_type}, timeout=30
            )
        )

    client = threading.Thread(target=post)
    try:
        wait_until_serving(process, base_url, log_path)
        client.start()
        assert first_sent.wait(SIGNAL_WAIT_S)
        process.send_signal(signal.SIGTERM)
        wait_for_log(log_path, "Handling signal: term")
        signalled.set()
        client.join(30)
        assert process.wait(timeout=30) == 0
    finally:
        signalled.set()
        stop_server(process)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["predictions"][0]["label"] == "Bag"


def wait_for_log(log_path, text: str) -> None:
    deadline = time.monotonic() + SIGNAL_WAIT_S
    while text not in log_path.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in the log"
        time.sleep(0.05)


@pytest.mark.parametrize("enabled", [True, False], ids=["CORS_ENABLE=true", "default"])
def test_cors_is_off_unless_enabled(tmp_path, enabled):
    log_path = tmp_path / "gunicorn.log"
    port = free_port()
    process = start_server(port, log_path, {"CORS_ENABLE": "true"} if enabled else {})
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base_url, log_path)
        response = requests.get(f"{base_url}/model/labels", headers={"Origin": "https://example.org"}, timeout=30)
        assert response.status_code == 200
        # flask-cors answers any origin by echoing it back
        assert (response.headers.get("Access-Control-Allow-Origin") == "https://example.org") is enabled
    finally:
        stop_server(process)
