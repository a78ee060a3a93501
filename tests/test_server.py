"""Integration: a real gunicorn server process on localhost, spoken to over HTTP as users do."""

import subprocess

import pytest
import requests

import config
from core.labels import CLASS_NAMES
from tests.imaging import none_sample_files, photo_sample_files, sample_files, slug
from tooling.live_server import free_port, start_server, stop_server

pytestmark = pytest.mark.integration
TIMEOUT_S = 30


def predict(base_url: str, data: bytes, filename: str = "upload.png", **params) -> requests.Response:
    return requests.post(
        f"{base_url}/model/predict", files={"image": (filename, data)}, params=params, timeout=TIMEOUT_S
    )


def assert_still_serving(base_url: str) -> None:
    boot = next(p for p in sample_files() if p.name == "ankle-boot.png")
    response = predict(base_url, boot.read_bytes())
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "Ankle boot"


@pytest.mark.parametrize("sample", sample_files() + photo_sample_files() + none_sample_files(), ids=lambda p: p.name)
def test_each_sample_is_answered_as_the_model_names_it(live_server, sample, sample_answers):
    response = predict(live_server, sample.read_bytes(), sample.name)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ok"
    assert slug(body["predictions"][0]["label"]) == sample_answers[sample.name]
    assert len(body["predictions"]) == config.SETTINGS.default_top_k
    none_of_the_ten = body["none_of_the_ten"]
    assert none_of_the_ten["flagged"] is (none_of_the_ten["score"] >= config.SETTINGS.none_of_the_ten_threshold)


def test_metadata_and_labels_over_http(live_server):
    metadata = requests.get(f"{live_server}/model/metadata", timeout=TIMEOUT_S).json()
    assert metadata["id"] == "max-fashion-mnist" and len(metadata["sha256"]) == 64
    assert metadata["test_accuracy"] >= 0.92
    assert metadata["none_of_the_ten_threshold"] == config.SETTINGS.none_of_the_ten_threshold
    labels = requests.get(f"{live_server}/model/labels", timeout=TIMEOUT_S).json()
    assert labels["count"] == 10 and [label["name"] for label in labels["labels"]] == list(CLASS_NAMES)


def test_swagger_ui_and_openapi_document(live_server):
    page = requests.get(f"{live_server}/", timeout=TIMEOUT_S)
    assert page.status_code == 200 and "swagger-ui" in page.text
    spec = requests.get(f"{live_server}/swagger.json", timeout=TIMEOUT_S).json()
    assert "/model/predict" in spec["paths"]
    script = requests.get(f"{live_server}/swaggerui/swagger-ui-bundle.js", timeout=TIMEOUT_S)
    assert script.status_code == 200 and len(script.content) > 100_000, "Swagger UI's assets are served locally"


@pytest.mark.parametrize(
    "send, status, message",
    [
        (lambda url: requests.post(f"{url}/model/predict", timeout=TIMEOUT_S), 400, "image"),
        (
            lambda url: requests.post(f"{url}/model/predict", files={"file": ("a.png", b"x")}, timeout=TIMEOUT_S),
            400,
            "image",
        ),
        (lambda url: predict(url, b"this is text, not an image", "notes.png"), 400, "not a readable image"),
        (lambda url: predict(url, b"", "empty.png"), 400, "empty"),
        (lambda url: predict(url, sample_files()[0].read_bytes(), top_k=11), 400, "top_k"),
        (lambda url: predict(url, sample_files()[0].read_bytes(), top_k=0), 400, "top_k"),
        (lambda url: requests.post(f"{url}/model/predict", json={"image": "x"}, timeout=TIMEOUT_S), 400, "image"),
        (lambda url: predict(url, b"\0" * (config.SETTINGS.max_content_length + 1024), "big.png"), 413, "exceeds"),
        (lambda url: requests.get(f"{url}/no/such/route", timeout=TIMEOUT_S), 404, "not found"),
    ],
    ids=[
        "no-body",
        "wrong-field",
        "text-file",
        "empty-file",
        "top-k-11",
        "top-k-0",
        "json-body",
        "too-large",
        "unknown-route",
    ],
)
def test_bad_request_gets_json_error_and_server_keeps_serving(live_server, send, status, message):
    response = send(live_server)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error" and message in body["message"].lower()
    assert_still_serving(live_server)


def test_decompression_bomb_gets_400_and_server_keeps_serving(live_server):
    from PIL import Image

    from tests.imaging import encode

    response = predict(live_server, encode(Image.new("1", (30000, 30000))), "bomb.png")
    assert response.status_code == 400 and "too many pixels" in response.json()["message"]
    assert_still_serving(live_server)


@pytest.mark.owns_server  # settings: a wrong MODEL_SHA256_PATH (or the photo network's), and the server's exit and log
@pytest.mark.parametrize(
    "setting, name", [("MODEL_SHA256_PATH", "fashion_mnist.h5"), ("PHOTO_MODEL_SHA256_PATH", "fashion_mnist_photo.h5")]
)
def test_server_refuses_to_start_on_checksum_mismatch(tmp_path, setting, name):
    wrong = tmp_path / f"{name}.sha256"
    wrong.write_text(f"{'0' * 64}  {name}\n")
    log_path = tmp_path / "gunicorn.log"
    process = start_server(free_port(), log_path, {setting: str(wrong)})
    try:
        returncode = process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop_server(process)
        pytest.fail("the server kept running with a model that does not match its checksum")
    log = log_path.read_text()
    assert returncode == 3, "gunicorn's 'worker failed to boot' exit code"
    assert "cannot start: model file" in log and name in log
    assert "refusing to serve a model that is not the one shipped" in log
    assert "0" * 64 in log
    assert "Traceback" not in log, "one clear line, not a stack trace"
