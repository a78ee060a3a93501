"""The V2 input rules of this model (api/v2/inference.model_batch): one image input, 28×28×1, values in range;
and readiness while shutting down."""

import base64
import json

import numpy as np
import pytest

import config
from api.v2.codec import ProtocolError, parse_request
from api.v2.inference import model_batch
from core.images import image_to_model_inputs
from tests.imaging import SAMPLES_DIR

LIMIT = config.SETTINGS.v2_max_batch  # images one V2 request may hold


def request_of(*inputs: dict):
    return parse_request(json.dumps({"inputs": list(inputs)}).encode(), None)


def image(shape: list[int], fill: float = 0.5, datatype: str = "FP32") -> dict:
    return {"name": "image", "shape": shape, "datatype": datatype, "data": [fill] * int(np.prod(shape))}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ((image([1, 28, 28]), image([1, 28, 28])), "exactly one input"),
        ((image([1, 28, 28], fill=256.0),), "must lie in 0-255"),
        ((image([1, 28, 28, 3]),), r"must have shape \[N, 28, 28\] or \[N, 28, 28, 1\]"),
        ((image([0, 28, 28]),), r"holds no image \(N = 0\)"),
        (({"name": "image_bytes", "shape": [1], "datatype": "FP32", "data": [1.0]},), "must be BYTES of shape"),
        (({"name": "image_bytes", "shape": [1, 1], "datatype": "BYTES", "data": ["aGk="]},), "must be BYTES of shape"),
    ],
)
def test_inputs_this_model_cannot_take_are_refused_with_a_reason(inputs, message):
    with pytest.raises(ProtocolError, match=message) as refusal:
        model_batch(request_of(*inputs), max_batch=LIMIT, preprocess=image_to_model_inputs)
    assert refusal.value.status == 400


def test_a_valid_image_becomes_one_model_batch():
    batch = model_batch(
        request_of(image([2, 28, 28, 1], fill=255.0, datatype="UINT8")),
        max_batch=LIMIT,
        preprocess=image_to_model_inputs,
    )
    assert batch.shape == (2, 28, 28, 1) and batch.dtype == np.float32 and float(batch.max()) == 1.0


def test_readiness_answers_503_while_the_model_shuts_down(client, monkeypatch):
    """A readiness probe must take the pod out of rotation as soon as the worker stops taking requests."""
    from core.model import ModelWrapper

    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    monkeypatch.setattr(ModelWrapper, "ready", property(lambda self: False))
    server = client.get("/v2/health/ready")
    assert server.status_code == 503 and server.get_json()["ready"] is False
    assert "shutting down" in server.get_json()["error"]
    model = client.get("/v2/models/fashion-mnist/ready")
    assert model.status_code == 503 and model.get_json() == {"name": "fashion-mnist", "ready": False}


def files_input(*contents: bytes, shape: list[int] | None = None, datatype: str = "BYTES") -> dict:
    return {
        "name": "image_bytes",
        "shape": shape or [len(contents)],
        "datatype": datatype,
        "data": [base64.b64encode(content).decode() for content in contents],
    }


def test_encoded_files_are_preprocessed_like_model_predict_in_order():
    files = [SAMPLES_DIR / "ankle-boot.png", SAMPLES_DIR / "sneaker-photo.jpg", SAMPLES_DIR / "bag.png"]
    inputs = model_batch(
        request_of(files_input(*(path.read_bytes() for path in files))),
        max_batch=LIMIT,
        preprocess=image_to_model_inputs,
    )
    expected = [image_to_model_inputs(path.read_bytes()) for path in files]
    assert len(inputs) == 3
    for got, wanted in zip(inputs, expected, strict=True):
        np.testing.assert_array_equal(got.array, wanted.array)
    assert inputs[0].photo is None and inputs[2].photo is None  # Fashion-MNIST-sized: the 28×28 network alone
    np.testing.assert_array_equal(inputs[1].photo, expected[1].photo)  # the photo keeps its colour crop


def test_an_unreadable_file_is_refused_naming_its_position():
    good = (SAMPLES_DIR / "bag.png").read_bytes()
    with pytest.raises(ProtocolError, match=r"Input 'image_bytes' element 1: .*not a readable image") as refusal:
        model_batch(request_of(files_input(good, b"<svg/>")), max_batch=LIMIT, preprocess=image_to_model_inputs)
    assert refusal.value.status == 400


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (files_input(shape=[0]), r"must be BYTES of shape \[N\], N > 0, got BYTES \[0\]"),
        ((image([1, 28, 28], datatype="INT32")), "Input 'image' must be FP32 or UINT8, got INT32"),
        ((image([1, 27, 28])), r"must have shape \[N, 28, 28\] or \[N, 28, 28, 1\], got \[1, 27, 28\]"),
        ((image([1, 28, 27])), r"must have shape \[N, 28, 28\] or \[N, 28, 28, 1\], got \[1, 28, 27\]"),
        ((image([28, 28])), r"must have shape \[N, 28, 28\] or \[N, 28, 28, 1\], got \[28, 28\]"),
        ((image([1, 1, 28, 28, 1])), r"must have shape \[N, 28, 28\] or \[N, 28, 28, 1\]"),
        ((image([1, 28, 28], fill=-0.5)), "must lie in 0-1"),
        ((image([1, 28, 28], fill=-3.0)), "must lie in 0-1"),
        (
            ({"name": "pixels", "shape": [1], "datatype": "FP32", "data": [0.0]}),
            "Unknown input 'pixels': this model takes 'image' or 'image_bytes'",
        ),
    ],
)
def test_each_refusal_says_what_was_wrong(inputs, message):
    with pytest.raises(ProtocolError, match=message):
        model_batch(request_of(inputs), max_batch=LIMIT, preprocess=image_to_model_inputs)


def test_nan_or_infinity_is_refused():
    values = np.zeros((1, 28, 28), dtype=np.float32)
    for bad in (np.nan, np.inf):
        values[0, 5, 5] = bad
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 28, 28],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": values.nbytes},
                    }
                ]
            }
        ).encode()
        with pytest.raises(ProtocolError, match="contains NaN or infinite values"):
            model_batch(
                parse_request(header + values.tobytes(), str(len(header))),
                max_batch=LIMIT,
                preprocess=image_to_model_inputs,
            )


@pytest.mark.parametrize(
    ("fill", "datatype", "seen"),
    [
        (0.5, "FP32", 0.5),
        (1.0, "FP32", 1.0),
        (0.0, "FP32", 0.0),  # all in 0-1: taken as 0-1
        (51.0, "FP32", 0.2),
        (255.0, "FP32", 1.0),  # any value over 1: taken as 0-255
        (1.0, "UINT8", 1 / 255),
        (0.0, "UINT8", 0.0),  # UINT8: always 0-255
    ],
)
def test_pixel_values_are_scaled_to_0_1(fill, datatype, seen):
    batch = model_batch(
        request_of(image([1, 28, 28], fill=fill, datatype=datatype)), max_batch=LIMIT, preprocess=image_to_model_inputs
    )
    np.testing.assert_allclose(batch, np.full((1, 28, 28, 1), seen, dtype=np.float32), rtol=1e-6)


def test_fp32_0_255_with_one_value_over_1_is_scaled_as_a_whole():
    values = np.zeros((1, 28, 28), dtype=np.float32)
    values[0, 0, :2] = (1.0, 255.0)
    request = request_of({"name": "image", "shape": [1, 28, 28], "datatype": "FP32", "data": values.ravel().tolist()})
    batch = model_batch(request, max_batch=LIMIT, preprocess=image_to_model_inputs)
    assert batch[0, 0, 0, 0] == pytest.approx(1 / 255) and batch[0, 0, 1, 0] == 1.0


def test_a_batch_of_exactly_the_limit_is_taken_and_one_more_is_refused():
    limit = LIMIT
    batch = model_batch(
        request_of(image([limit, 28, 28], fill=0.0, datatype="UINT8")),
        max_batch=limit,
        preprocess=image_to_model_inputs,
    )
    assert batch.shape[0] == limit
    with pytest.raises(ProtocolError, match=f"At most {limit} images per request, got {limit + 1}"):
        model_batch(
            request_of(image([limit + 1, 28, 28], fill=0.0, datatype="UINT8")),
            max_batch=LIMIT,
            preprocess=image_to_model_inputs,
        )
