"""/metrics in Prometheus text format, readiness while shutting down, and the log line formats."""

import io
import json
import logging

import numpy as np
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from api import MODEL_EXTENSION
from core.logs import JsonFormatter
from tests.imaging import sample_files

EXPECTED_METRICS = {
    "fashion_mnist_http_requests",
    "fashion_mnist_http_request_duration_seconds",
    "fashion_mnist_inference_batch_size",
    "fashion_mnist_predictions",
    "fashion_mnist_model_load_seconds",
}


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    families = list(text_string_to_metric_families(response.get_data(as_text=True)))
    assert EXPECTED_METRICS <= {family.name for family in families}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def sample_value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_send_prometheus_clients_content_type_exactly(client):
    """Werkzeug appends a charset to a mimetype: "...; charset=utf-8; charset=utf-8" is a Content-Type that Go's
    media-type parser rejects, and Prometheus 3 fails the scrape (tests/test_prometheus.py scrapes for real)."""
    for method in (client.get, client.head):
        content_type = method("/metrics").headers["Content-Type"]
        assert content_type == CONTENT_TYPE_LATEST
        names = [parameter.split("=", 1)[0].strip().lower() for parameter in content_type.split(";")[1:]]
        assert len(names) == len(set(names)), f"a parameter twice: {content_type}"


def test_openapi_says_what_metrics_produce(client):
    assert client.get("/swagger.json").get_json()["paths"]["/metrics"]["get"]["produces"] == [CONTENT_TYPE_LATEST]


def test_a_prediction_moves_the_request_batch_and_class_metrics(client):
    boot = next(p for p in sample_files() if p.name == "ankle-boot.png").read_bytes()
    before = scrape(client)
    assert client.post("/model/predict", data={"image": (io.BytesIO(boot), "b.png")}).status_code == 200
    after = scrape(client)
    request_labels = {"method": "POST", "endpoint": "/model/predict", "status": "200"}
    assert (
        sample_value(after, "fashion_mnist_http_requests_total", **request_labels)
        == sample_value(before, "fashion_mnist_http_requests_total", **request_labels) + 1
    )
    assert (
        sample_value(after, "fashion_mnist_http_request_duration_seconds_count", **request_labels)
        == sample_value(before, "fashion_mnist_http_request_duration_seconds_count", **request_labels) + 1
    )
    assert (
        sample_value(after, "fashion_mnist_predictions_total", label="Ankle boot")
        == sample_value(before, "fashion_mnist_predictions_total", label="Ankle boot") + 1
    )
    assert sample_value(after, "fashion_mnist_inference_batch_size_count") > sample_value(
        before, "fashion_mnist_inference_batch_size_count"
    )
    assert sample_value(after, "fashion_mnist_model_load_seconds") > 0


def test_unknown_paths_share_one_endpoint_label(client):
    """404s are counted, all under one label: a client inventing paths must not grow the metrics."""
    before = sample_value(
        scrape(client), "fashion_mnist_http_requests_total", method="GET", endpoint="unmatched", status="404"
    )
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/another/one").status_code == 404
    samples = scrape(client)
    endpoints = {
        dict(labels).get("endpoint") for (name, labels) in samples if name == "fashion_mnist_http_requests_total"
    }
    assert not endpoints & {"/no/such/page", "/another/one"}
    assert (
        sample_value(samples, "fashion_mnist_http_requests_total", method="GET", endpoint="unmatched", status="404")
        == before + 2
    )


def test_invented_methods_share_one_method_label(client):
    """A client choosing the method must not grow the metrics without bound."""
    for method in ("FOO", "BAR"):
        assert client.open("/model/labels", method=method).status_code == 405
    methods = {
        dict(labels).get("method") for (name, labels) in scrape(client) if name == "fashion_mnist_http_requests_total"
    }
    assert "other" in methods and not methods & {"FOO", "BAR"}


def test_a_batch_counts_each_predicted_class():
    from prometheus_client import REGISTRY

    from core.telemetry import record_predictions

    def count(label: str) -> float:
        return REGISTRY.get_sample_value("fashion_mnist_predictions_total", {"label": label}) or 0.0

    before = {label: count(label) for label in ("Trouser", "Bag")}
    probabilities = np.zeros((3, 10), dtype=np.float32)
    probabilities[[0, 1, 2], [1, 8, 1]] = 1.0  # two trousers and a bag
    record_predictions(probabilities, np.zeros(3, dtype=bool))
    assert count("Trouser") == before["Trouser"] + 2 and count("Bag") == before["Bag"] + 1


def test_while_shutting_down_readiness_and_predict_answer_503(app, client):
    from core.model import ModelWrapper

    served = app.extensions[MODEL_EXTENSION]
    closing = ModelWrapper()
    closing.close()
    app.extensions[MODEL_EXTENSION] = closing
    try:
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 503 and ready.get_json()["ready"] is False
        boot = next(p for p in sample_files() if p.name == "ankle-boot.png").read_bytes()
        response = client.post("/model/predict", data={"image": (io.BytesIO(boot), "b.png")})
        assert response.status_code == 503 and "shutting down" in response.get_json()["message"]
        assert client.get("/v2/health/live").get_json() == {"live": True}
    finally:
        app.extensions[MODEL_EXTENSION] = served
    assert client.get("/v2/health/ready").get_json() == {"ready": True}


def test_json_log_lines_carry_the_extra_fields():
    record = logging.makeLogRecord(
        {
            "name": "max_fashion_mnist.requests",
            "levelname": "INFO",
            "levelno": 20,
            "msg": "GET %s %d",
            "args": ("/x", 200),
            "path": "/x",
            "status": 200,
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /x 200" and entry["path"] == "/x" and entry["status"] == 200
    assert entry["level"] == "INFO" and entry["logger"] == "max_fashion_mnist.requests" and "time" in entry


@pytest.mark.parametrize("bad", ["%(", None])
def test_json_log_survives_odd_messages(bad):
    record = logging.makeLogRecord({"msg": bad, "args": ()})
    assert json.loads(JsonFormatter().format(record))["message"] == str(bad)
