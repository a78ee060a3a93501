"""The V2 input rules of this model (api/v2/inference.model_batch): one image input, 28×28×1, values in range;
and readiness while shutting down."""
import json

import numpy as np
import pytest

from api.v2.codec import ProtocolError, parse_request
from api.v2.inference import model_batch


def request_of(*inputs: dict):
    return parse_request(json.dumps({"inputs": list(inputs)}).encode(), None)


def image(shape: list[int], fill: float = 0.5, datatype: str = "FP32") -> dict:
    return {"name": "image", "shape": shape, "datatype": datatype, "data": [fill] * int(np.prod(shape))}


@pytest.mark.parametrize(("inputs", "message"), [
    ((image([1, 28, 28]), image([1, 28, 28])), "exactly one input"),
    ((image([1, 28, 28], fill=256.0),), "must lie in 0-255"),
    ((image([1, 28, 28, 3]),), r"must have shape \[N, 28, 28\] or \[N, 28, 28, 1\]"),
    ((image([0, 28, 28]),), r"holds no image \(N = 0\)"),
    (({"name": "image_bytes", "shape": [1], "datatype": "FP32", "data": [1.0]},), "must be BYTES of shape"),
    (({"name": "image_bytes", "shape": [1, 1], "datatype": "BYTES", "data": ["aGk="]},), "must be BYTES of shape"),
])
def test_inputs_this_model_cannot_take_are_refused_with_a_reason(inputs, message):
    with pytest.raises(ProtocolError, match=message) as refusal:
        model_batch(request_of(*inputs), max_batch=256)
    assert refusal.value.status == 400


def test_a_valid_image_becomes_one_model_batch():
    batch = model_batch(request_of(image([2, 28, 28, 1], fill=255.0, datatype="UINT8")), max_batch=256)
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
