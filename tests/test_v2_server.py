"""Integration: the real tritonclient drives the running server through every V2 call, JSON and binary."""

import base64

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from PIL import Image

import config
from core.labels import CLASS_NAMES
from tests.imaging import photo_sample_files, sample_files, slug

pytestmark = pytest.mark.integration
MODEL = config.SETTINGS.v2_model_name
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def client(live_server):
    return triton.InferenceServerClient(url=live_server.removeprefix("http://"), network_timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def test_images(sample_answers) -> tuple[np.ndarray, list[str]]:
    """The ten 28×28 class samples as a uint8 batch, with the classes the shipped model names them."""
    files = sorted(sample_files())
    images = np.stack([np.asarray(Image.open(path), dtype=np.uint8) for path in files])
    return images, [sample_answers[path.name] for path in files]


def text(element: bytes | str) -> str:
    """tritonclient gives BYTES elements as bytes from binary data and as str from JSON."""
    return element.decode() if isinstance(element, bytes) else element


def predicted_names(label_ids) -> list[str]:
    return [slug(CLASS_NAMES[int(i)]) for i in label_ids]


def test_health_and_metadata_through_the_client(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, model_version="1")
    metadata = client.get_model_metadata(MODEL)
    assert metadata["name"] == MODEL and metadata["versions"] == ["1"]
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {"image": "FP32", "image_bytes": "BYTES"}
    assert [o["name"] for o in metadata["outputs"]] == ["probabilities", "label_id", "label", "none_of_the_ten"]
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", ["FP32", "UINT8"])
def test_infer_a_batch_of_arrays(client, test_images, binary, datatype):
    images, names = test_images
    data = (images / 255.0).astype(np.float32)[..., None] if datatype == "FP32" else images
    tensor = triton.InferInput("image", list(data.shape), datatype)
    tensor.set_data_from_numpy(data, binary_data=binary)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("probabilities", "label_id", "label")]
    result = client.infer(MODEL, [tensor], outputs=outputs, request_id="batch-1")
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (len(names), 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert predicted_names(result.as_numpy("label_id")) == names
    assert [slug(text(label)) for label in result.as_numpy("label")] == names
    assert result.get_response()["id"] == "batch-1"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_encoded_photos_agrees_with_model_predict(client, live_server, binary, sample_answers):
    files = sorted(photo_sample_files())
    contents = [path.read_bytes() for path in files]
    elements = contents if binary else [base64.b64encode(content) for content in contents]
    tensor = triton.InferInput("image_bytes", [len(files)], "BYTES")
    tensor.set_data_from_numpy(np.array(elements, dtype=object), binary_data=binary)
    result = client.infer(MODEL, [tensor], model_version="1")  # no outputs named: all four
    probabilities, scores = result.as_numpy("probabilities"), result.as_numpy("none_of_the_ten")
    assert scores.shape == (len(files),) and scores.dtype == np.float32
    for path, content, row, score in zip(files, contents, probabilities, scores, strict=True):
        answer = requests.post(
            f"{live_server}/model/predict",
            files={"image": (path.name, content)},
            params={"top_k": 10},
            timeout=TIMEOUT_S,
        ).json()
        by_id = {p["label_id"]: p["probability"] for p in answer["predictions"]}
        np.testing.assert_allclose(row, [by_id[i] for i in range(10)], atol=1e-5)
        assert score == pytest.approx(answer["none_of_the_ten"]["score"], abs=1e-5)
        assert slug(CLASS_NAMES[int(row.argmax())]) == sample_answers[path.name]


def test_only_the_requested_outputs_come_back_with_classification(client, test_images):
    images, names = test_images
    tensor = triton.InferInput("image", [1, 28, 28], "UINT8")
    tensor.set_data_from_numpy(images[:1])
    result = client.infer(MODEL, [tensor], outputs=[triton.InferRequestedOutput("label", class_count=3)])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]
    top = result.as_numpy("label")[0]
    assert len(top) == 3 and slug(text(top[0]).split(":")[2]) == names[0]
    assert result.as_numpy("probabilities") is None


def v2_post(base_url: str, body: dict, path: str = f"/v2/models/{MODEL}/infer") -> requests.Response:
    return requests.post(f"{base_url}{path}", json=body, timeout=TIMEOUT_S)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"inputs": [{"name": "image", "shape": [1, 27, 28], "datatype": "UINT8", "data": [0] * 756}]}, 400, "shape"),
        (
            {"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 10}]},
            400,
            "needs 784 elements",
        ),
        (
            {"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "INT32", "data": [0] * 784}]},
            400,
            "FP32 or UINT8",
        ),
        ({"inputs": [{"name": "pixels", "shape": [1], "datatype": "FP32", "data": [0]}]}, 400, "Unknown input"),
        (
            {
                "inputs": [
                    {
                        "name": "image_bytes",
                        "shape": [1],
                        "datatype": "BYTES",
                        "data": [base64.b64encode(b"<svg/>").decode()],
                    }
                ]
            },
            400,
            "not a readable image",
        ),
        (
            {
                "inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 784}],
                "outputs": [{"name": "logits"}],
            },
            400,
            "Unknown output",
        ),
    ],
)
def test_bad_requests_get_the_protocols_error_object_and_the_server_carries_on(live_server, body, status, message):
    response = v2_post(live_server, body)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and message in response.json()["error"]
    assert requests.get(f"{live_server}/v2/health/ready", timeout=TIMEOUT_S).json() == {"ready": True}


def test_nan_is_refused(live_server):
    body = (
        b'{"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "FP32", "data": [NaN' + b", 0" * 783 + b"]}]}"
    )
    response = requests.post(f"{live_server}/v2/models/{MODEL}/infer", data=body, timeout=TIMEOUT_S)
    assert response.status_code == 400 and "NaN" in response.json()["error"]


def test_unknown_model_or_version_is_404(live_server):
    for path in ("/v2/models/resnet", "/v2/models/resnet/ready", f"/v2/models/{MODEL}/versions/7"):
        response = requests.get(f"{live_server}{path}", timeout=TIMEOUT_S)
        assert response.status_code == 404 and "Unknown" in response.json()["error"]
    one_image = {"inputs": [{"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 784}]}
    response = v2_post(live_server, one_image, f"/v2/models/{MODEL}/versions/7/infer")
    assert response.status_code == 404 and "Unknown" in response.json()["error"]


def test_v2_and_swagger_document_each_other(live_server):
    paths = requests.get(f"{live_server}/swagger.json", timeout=TIMEOUT_S).json()["paths"]
    assert {"/v2/health/ready", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"} <= set(paths)


def test_png_sent_as_fp32_0_255_matches_0_1(client, test_images):
    images, _ = test_images
    answers = []
    for scale in (1.0, 255.0):
        tensor = triton.InferInput("image", [2, 28, 28], "FP32")
        tensor.set_data_from_numpy((images[:2] / 255.0 * scale).astype(np.float32))
        answers.append(client.infer(MODEL, [tensor]).as_numpy("probabilities"))
    np.testing.assert_allclose(answers[0], answers[1], atol=1e-6)


def test_a_batch_over_the_limit_is_refused(live_server):
    count = config.SETTINGS.v2_max_batch + 1
    body = {"inputs": [{"name": "image", "shape": [count, 28, 28], "datatype": "UINT8", "data": [0] * (784 * count)}]}
    response = v2_post(live_server, body)
    assert response.status_code == 400 and f"At most {config.SETTINGS.v2_max_batch} images" in response.json()["error"]


def test_a_chunked_body_over_the_limit_is_413(live_server):
    chunk = b" " * (1024 * 1024)

    def body():
        for _ in range(config.SETTINGS.max_content_length // len(chunk) + 2):
            yield chunk

    response = requests.post(f"{live_server}/v2/models/{MODEL}/infer", data=body(), timeout=TIMEOUT_S)
    assert response.status_code == 413
    assert list(response.json()) == ["error"], "the protocol's own error shape, as every other V2 error"
