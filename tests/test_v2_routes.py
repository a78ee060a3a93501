"""The V2 routes in-process, through Flask's test client: metadata, health, inference (JSON and binary, requested
outputs, Triton's classification extension) and every refusal. test_v2_server.py does the same against a real server
with the real tritonclient; these run in the unit tests, so `make mutate` sees them."""

import io
import json

import numpy as np
import pytest

import config
from api.v2.codec import HEADER_LENGTH, OutputRequest
from api.v2.inference import classification_strings, output_tensor
from core.images import image_to_model_array
from core.labels import CLASS_NAMES
from core.model import Answers, to_model_batch
from tests.imaging import SAMPLES_DIR

MODEL = "fashion-mnist"
INFER = f"/v2/models/{MODEL}/infer"
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "tensorflow": "tensorflow_keras"}
SAMPLES = [SAMPLES_DIR / name for name in ("ankle-boot.png", "trouser.png", "bag.png")]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.stack([image_to_model_array(path.read_bytes()) for path in SAMPLES])


@pytest.fixture(scope="module")
def answers(model, images):
    """What the model itself answers for the samples: every V2 answer must agree."""
    return model.infer(to_model_batch(images))


@pytest.fixture(scope="module")
def expected(answers) -> np.ndarray:
    return answers.probabilities


def infer_body(images: np.ndarray, **extra) -> bytes:
    tensor = {"name": "image", "shape": list(images.shape), "datatype": "UINT8", "data": images.ravel().tolist()}
    return json.dumps({"inputs": [tensor], **extra}).encode()


def binary_outputs(response) -> tuple[dict, bytes]:
    """The JSON header and the binary tail of a binary V2 answer."""
    length = int(response.headers[HEADER_LENGTH])
    body = response.get_data()
    return json.loads(body[:length]), body[length:]


def test_server_metadata_names_the_server_and_its_extensions(client):
    response = client.get("/v2")
    assert response.status_code == 200
    assert response.get_json() == {
        "name": config.MODEL_ID,
        "version": config.API_VERSION,
        "extensions": ["binary_tensor_data", "classification"],
    }


def test_liveness(client):
    response = client.get("/v2/health/live")
    assert response.status_code == 200 and response.get_json() == {"live": True}


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/1"])
def test_model_metadata_lists_the_inputs_and_outputs(client, model, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.get_json() == {
        "name": MODEL,
        "versions": ["1"],
        "platform": PLATFORMS[model.runtime],
        "inputs": [
            {"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]},
            {"name": "image_bytes", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
            {"name": "label_id", "datatype": "INT64", "shape": [-1]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "none_of_the_ten", "datatype": "FP32", "shape": [-1]},
        ],
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/models/resnet", "Unknown model 'resnet'; this server serves 'fashion-mnist'."),
        ("/v2/models/resnet/ready", "Unknown model 'resnet'; this server serves 'fashion-mnist'."),
        (f"/v2/models/{MODEL}/versions/7", "Unknown version '7' of model 'fashion-mnist'; it has version '1'."),
        (f"/v2/models/{MODEL}/versions/7/ready", "Unknown version '7' of model 'fashion-mnist'; it has version '1'."),
    ],
)
def test_an_unknown_model_or_version_is_404_saying_what_is_served(client, path, message):
    response = client.get(path)
    assert response.status_code == 404 and response.get_json() == {"error": message}


def test_an_unknown_version_cannot_infer(client, images):
    response = client.post(f"/v2/models/{MODEL}/versions/7/infer", data=infer_body(images[:1]))
    assert response.status_code == 404 and "Unknown version '7'" in response.get_json()["error"]


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}/ready", f"/v2/models/{MODEL}/versions/1/ready"])
def test_the_model_is_ready(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.get_json() == {"name": MODEL, "ready": True}


def test_json_inference_answers_all_four_outputs_by_default(client, images, expected, answers):
    response = client.post(INFER, data=infer_body(images, id="req-1"))  # no Content-Type, as tritonclient sends
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert HEADER_LENGTH not in response.headers
    answer = response.get_json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (MODEL, "1", "req-1")
    outputs = {output["name"]: output for output in answer["outputs"]}
    assert list(outputs) == ["probabilities", "label_id", "label", "none_of_the_ten"]
    assert outputs["probabilities"]["datatype"] == "FP32" and outputs["probabilities"]["shape"] == [3, 10]
    np.testing.assert_allclose(np.reshape(outputs["probabilities"]["data"], (3, 10)), expected, atol=1e-6)
    assert outputs["label_id"] == {
        "name": "label_id",
        "datatype": "INT64",
        "shape": [3],
        "data": expected.argmax(axis=1).tolist(),
    }
    assert outputs["label"] == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [3],
        "data": [CLASS_NAMES[i] for i in expected.argmax(axis=1)],
    }
    none_of_the_ten = outputs["none_of_the_ten"]
    assert (none_of_the_ten["datatype"], none_of_the_ten["shape"]) == ("FP32", [3])
    np.testing.assert_allclose(none_of_the_ten["data"], answers.none_scores, atol=1e-6)


def test_an_answer_without_a_request_id_has_none(client, images):
    assert "id" not in client.post(INFER, data=infer_body(images[:1])).get_json()


def test_binary_data_output_answers_every_output_in_binary(client, images, expected, answers):
    response = client.post(INFER, data=infer_body(images, parameters={"binary_data_output": True}))
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    header, tail = binary_outputs(response)
    sizes = [output["parameters"]["binary_data_size"] for output in header["outputs"]]
    assert [output["name"] for output in header["outputs"]] == ["probabilities", "label_id", "label", "none_of_the_ten"]
    assert sizes[:2] == [3 * 10 * 4, 3 * 8] and sizes[3] == 3 * 4 and sum(sizes) == len(tail)
    np.testing.assert_allclose(np.frombuffer(tail[:120], dtype="<f4").reshape(3, 10), expected, atol=1e-6)
    assert np.frombuffer(tail[120:144], dtype="<i8").tolist() == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(np.frombuffer(tail[-12:], dtype="<f4"), answers.none_scores, atol=1e-6)


def test_binary_inputs_are_answered_like_json_ones(client, images, expected):
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "shape": [3, 28, 28, 1],
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": images.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities"}],
        }
    ).encode()
    response = client.post(INFER, data=header + images.tobytes(), headers={HEADER_LENGTH: str(len(header))})
    assert response.status_code == 200
    (output,) = response.get_json()["outputs"]
    np.testing.assert_allclose(np.reshape(output["data"], (3, 10)), expected, atol=1e-6)


def test_only_the_requested_outputs_come_back_each_in_its_own_encoding(client, images, expected):
    outputs = [{"name": "label", "parameters": {"binary_data": True}}, {"name": "label_id"}]
    response = client.post(INFER, data=infer_body(images, outputs=outputs))
    header, tail = binary_outputs(response)
    label, label_id = header["outputs"]
    assert label["name"] == "label" and "data" not in label and label["parameters"]["binary_data_size"] == len(tail)
    assert label_id == {"name": "label_id", "datatype": "INT64", "shape": [3], "data": expected.argmax(axis=1).tolist()}


def test_classification_gives_the_top_k_as_score_index_label(client, images, expected):
    outputs = [{"name": "probabilities", "parameters": {"classification": 2}}]
    response = client.post(INFER, data=infer_body(images, outputs=outputs))
    (output,) = response.get_json()["outputs"]
    assert output["name"] == "probabilities" and output["datatype"] == "BYTES" and output["shape"] == [3, 2]
    for row, probabilities in zip(np.reshape(output["data"], (3, 2)), expected, strict=True):
        top = np.argsort(-probabilities, kind="stable")[:2]
        assert [text.split(":") for text in row] == [[f"{probabilities[i]:f}", str(i), CLASS_NAMES[i]] for i in top]


def test_an_unknown_output_is_refused_naming_the_ones_there_are(client, images):
    response = client.post(INFER, data=infer_body(images[:1], outputs=[{"name": "logits"}]))
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Unknown output 'logits': this model has probabilities, label_id, label, none_of_the_ten."
    }


def test_classification_strings_most_likely_first_ties_by_class_and_k_capped_at_the_classes():
    probabilities = np.array([[0.1, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3]], dtype=np.float32)
    strings = classification_strings(probabilities, 3)
    assert strings.shape == (1, 3)
    assert strings[0].tolist() == [b"0.300000:1:Trouser", b"0.300000:2:Pullover", b"0.300000:9:Ankle boot"]
    everything = classification_strings(probabilities, 50)
    assert everything.shape == (1, 10)
    assert [int(text.split(b":")[1]) for text in everything[0]] == [1, 2, 9, 0, 3, 4, 5, 6, 7, 8]


def test_each_output_is_built_from_the_answers():
    probabilities = np.array([[0.1, 0.9] + [0.0] * 8, [0.0] * 9 + [1.0]], dtype=np.float64)
    answers = Answers(probabilities, np.array([0.25, 0.75]))
    tensor = output_tensor(answers, OutputRequest("probabilities", binary=False), 0.5)
    assert (tensor.name, tensor.datatype, tensor.values.dtype) == ("probabilities", "FP32", np.float32)
    tensor = output_tensor(answers, OutputRequest("label_id", binary=False), 0.5)
    assert (tensor.name, tensor.datatype, tensor.values.tolist()) == ("label_id", "INT64", [1, 9])
    assert tensor.values.dtype == np.int64
    tensor = output_tensor(answers, OutputRequest("label", binary=False), 0.5)
    assert (tensor.name, tensor.datatype, tensor.values.tolist()) == ("label", "BYTES", [b"Trouser", b"Ankle boot"])
    tensor = output_tensor(answers, OutputRequest("none_of_the_ten", binary=False), 0.5)
    assert (tensor.name, tensor.datatype, tensor.values.tolist()) == ("none_of_the_ten", "FP32", [0.25, 0.75])
    assert tensor.values.dtype == np.float32


def test_classification_of_none_of_the_ten_says_so_at_the_threshold():
    """One value per image: b"score:0:none of the ten" once the score reaches the threshold, "one of the ten"
    below it (the threshold is the NONE_OF_THE_TEN_THRESHOLD setting)."""
    answers = Answers(np.full((3, 10), 0.1), np.array([0.2, 0.5, 0.9]))
    tensor = output_tensor(answers, OutputRequest("none_of_the_ten", binary=False, classification=3), 0.5)
    assert (tensor.datatype, tensor.values.shape) == ("BYTES", (3, 1))
    assert tensor.values[:, 0].tolist() == [
        b"0.200000:0:one of the ten",
        b"0.500000:0:none of the ten",
        b"0.900000:0:none of the ten",
    ]


def test_none_of_the_ten_classification_over_http_follows_the_served_threshold(client, images, answers):
    outputs = [{"name": "none_of_the_ten", "parameters": {"classification": 1}}]
    (output,) = client.post(INFER, data=infer_body(images, outputs=outputs)).get_json()["outputs"]
    assert output["datatype"] == "BYTES" and output["shape"] == [3, 1]
    threshold = config.SETTINGS.none_of_the_ten_threshold
    for (text,), score in zip(np.reshape(output["data"], (3, 1)), answers.none_scores, strict=True):
        value, index, label = text.split(":")
        assert float(value) == pytest.approx(score, abs=1e-6) and index == "0"
        assert label == ("none of the ten" if score >= threshold else "one of the ten")


def test_a_refused_request_gets_the_protocols_error_object_and_the_server_carries_on(client, images):
    response = client.post(INFER, data=b'{"inputs": [{"name": "image", "shape": [1, 27, 28], "datatype": "UINT8"}]}')
    assert response.status_code == 400 and list(response.get_json()) == ["error"]
    assert client.post(INFER, data=infer_body(images[:1])).status_code == 200


def post_chunked(client, stream: io.RawIOBase | io.BytesIO):
    """A streamed body (Transfer-Encoding: chunked), as tritonclient and curl may send: no Content-Length."""
    return client.post(INFER, headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input": stream})


def test_a_chunked_request_without_a_length_is_read_whole(client, images, expected):
    response = post_chunked(client, io.BytesIO(infer_body(images)))
    assert response.status_code == 200
    np.testing.assert_allclose(np.reshape(response.get_json()["outputs"][0]["data"], (3, 10)), expected, atol=1e-6)


class EndlessBody(io.RawIOBase):
    """A client that never stops sending: only a bounded read ever returns."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise MemoryError("read an endless body whole")
        return b" " * size


@pytest.mark.parametrize(
    "body",
    [EndlessBody(), io.BytesIO(b" " * (config.SETTINGS.max_content_length + 1))],
    ids=["endless", "one-byte-over"],
)
def test_a_chunked_body_over_the_limit_is_413_without_reading_on(client, body):
    response = post_chunked(client, body)
    assert response.status_code == 413 and list(response.get_json()) == ["error"]


def test_a_chunked_body_of_exactly_the_limit_is_taken(client, images):
    body = infer_body(images[:1])
    response = post_chunked(client, io.BytesIO(body + b" " * (config.SETTINGS.max_content_length - len(body))))
    assert response.status_code == 200
