"""Integration: /metrics merges both workers of a real gunicorn server; LOG_FORMAT=json logs JSON lines."""
import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.imaging import sample_files
from tests.live_server import free_port, start_server, stop_server, wait_until_serving

pytestmark = pytest.mark.integration
REQUESTS = 12


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
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
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
