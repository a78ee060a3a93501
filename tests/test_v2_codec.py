"""The V2 protocol's wire format: JSON and binary tensors in, JSON and binary tensors out, clear refusals."""
import base64
import json
import struct

import numpy as np
import pytest

from api.v2.codec import (
    BYTES_LENGTH,
    OutputTensor,
    ProtocolError,
    encode_response,
    flatten,
    parse_request,
)


def json_body(inputs, **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def test_nested_and_flat_json_data_give_the_same_tensor():
    nested = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    for data in (nested, list(range(1, 9))):
        request = parse_request(json_body([{"name": "image", "shape": [2, 2, 2], "datatype": "FP32", "data": data}]),
                                None)
        np.testing.assert_array_equal(request.inputs[0].values, np.arange(1, 9, dtype=np.float32).reshape(2, 2, 2))


def test_binary_inputs_follow_the_json_header_in_order():
    first = np.arange(4, dtype=np.float32)
    second = [b"ab", b""]
    second_bytes = b"".join(BYTES_LENGTH.pack(len(e)) + e for e in second)
    header = json.dumps({"id": "7", "inputs": [
        {"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
        {"name": "b", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(second_bytes)}},
    ]}).encode()
    request = parse_request(header + first.tobytes() + second_bytes, str(len(header)))
    np.testing.assert_array_equal(request.inputs[0].values, first.reshape(2, 2))
    assert request.inputs[1].values == second and request.id == "7"


def test_bytes_in_json_are_base64():
    request = parse_request(json_body([{"name": "f", "shape": [1], "datatype": "BYTES",
                                        "data": [base64.b64encode(b"\x89PNG").decode()]}]), None)
    assert request.inputs[0].values == [b"\x89PNG"]


@pytest.mark.parametrize(("body", "header", "message"), [
    (b"not json", None, "not valid JSON"),
    (b"[1, 2]", None, "must be a JSON object"),
    (json_body([]), None, "non-empty 'inputs'"),
    (json_body([{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]), None, "needs 2 elements, got 1"),
    (json_body([{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]), None, "unknown datatype"),
    (json_body([{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]), None, "non-negative integers"),
    (json_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]), None, "must be numbers"),
    (json_body([{"name": "x", "shape": [1], "datatype": "UINT8", "data": [300]}]), None, "does not fit UINT8"),
    (json_body([{"name": "x", "shape": [1], "datatype": "FP32"}]), None, "neither 'data' nor binary"),
    (json_body([{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["%%%"]}]), None, "not valid base64"),
    (json_body([{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]) + b"\0" * 4,
     None, "not valid JSON"),
    (b'{"inputs": []}', "999", "but the body has"),
    (b'{"inputs": []}', "ten", "must be an integer"),
])
def test_malformed_requests_are_refused_with_a_reason(body, header, message):
    with pytest.raises(ProtocolError, match=message) as refusal:
        parse_request(body, header)
    assert refusal.value.status == 400


def test_binary_data_of_the_wrong_length_is_refused():
    header = json.dumps({"inputs": [{"name": "a", "shape": [2], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 4}}]}).encode()
    with pytest.raises(ProtocolError, match="needs 8 bytes, got 4"):
        parse_request(header + b"\0" * 4, str(len(header)))
    with pytest.raises(ProtocolError, match="does not fit the binary data"):
        parse_request(header, str(len(header)))


def test_leftover_binary_data_is_refused():
    header = json_body([{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}])
    with pytest.raises(ProtocolError, match="4 bytes of binary data that no input declares"):
        parse_request(header + b"\0" * 4, str(len(header)))


def test_flatten_handles_any_depth_without_recursion():
    deep = [1]
    for _ in range(100_000):
        deep = [deep]
    assert flatten(deep) == [1]
    assert flatten([[1, [2, 3]], 4]) == [1, 2, 3, 4]


def test_json_nested_beyond_the_parsers_depth_is_a_400_not_a_crash():
    deep = "[" * 100_000 + "1" + "]" * 100_000
    body = ('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ' + deep + "}]}").encode()
    with pytest.raises(ProtocolError, match="not valid JSON"):
        parse_request(body, None)


def test_requested_outputs_carry_binary_and_classification():
    body = json_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                     outputs=[{"name": "label", "parameters": {"binary_data": True, "classification": 3}},
                              {"name": "label_id"}], parameters={"binary_data_output": False})
    outputs = parse_request(body, None).outputs
    assert [(o.name, o.binary, o.classification) for o in outputs] == [("label", True, 3), ("label_id", False, 0)]


def test_response_json_and_binary_round_trip():
    probabilities = OutputTensor("p", "FP32", np.array([[0.25, 0.75]], dtype=np.float32))
    labels = OutputTensor("l", "BYTES", np.array([b"Bag"], dtype=object))
    body, length = encode_response("m", "1", "9", [(probabilities, False), (labels, False)])
    assert length is None
    assert json.loads(body) == {"model_name": "m", "model_version": "1", "id": "9", "outputs": [
        {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]},
        {"name": "l", "datatype": "BYTES", "shape": [1], "data": ["Bag"]}]}
    body, length = encode_response("m", "1", None, [(probabilities, True), (labels, True)])
    header = json.loads(body[:length])
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [8, 7]
    tail = body[length:]
    np.testing.assert_array_equal(np.frombuffer(tail[:8], dtype="<f4"), [0.25, 0.75])
    assert tail[8:] == struct.pack("<I", 3) + b"Bag"


def binary_bytes_request(elements_data: bytes, shape: list[int]) -> tuple[bytes, str]:
    header = json.dumps({"inputs": [{"name": "image_bytes", "shape": shape, "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(elements_data)}}]}).encode()
    return header + elements_data, str(len(header))


def test_binary_bytes_must_hold_as_many_elements_as_the_shape_says():
    """Else a request declaring shape [1] could carry any number of images past V2_MAX_BATCH."""
    two = b"".join(BYTES_LENGTH.pack(len(e)) + e for e in (b"ab", b"cd"))
    with pytest.raises(ProtocolError, match=r"needs 1 elements, got 2"):
        parse_request(*binary_bytes_request(two, [1]))


@pytest.mark.parametrize(("data", "message"), [
    (b"\x01\x00", "truncated BYTES element length"),
    (BYTES_LENGTH.pack(9) + b"abc", "longer than the data sent"),
])
def test_cut_binary_bytes_elements_are_refused(data, message):
    with pytest.raises(ProtocolError, match=message):
        parse_request(*binary_bytes_request(data, [1]))


IMAGE_INPUT = {"name": "image", "shape": [1], "datatype": "FP32", "data": [1]}


@pytest.mark.parametrize(("extra", "message"), [
    ({"outputs": {"name": "label"}}, "'outputs' must be a list"),
    ({"parameters": ["binary_data_output"]}, "'parameters' must be a JSON object"),
    ({"parameters": []}, "'parameters' must be a JSON object"),
    ({"outputs": [{"name": "label", "parameters": {"classification": -1}}]}, "classification must be a non-negative"),
    ({"outputs": [{"name": "label", "parameters": {"classification": "3"}}]}, "classification must be a non-negative"),
    ({"outputs": [{"name": "label", "parameters": []}]}, "'parameters' must be a JSON object"),
])
def test_malformed_outputs_and_parameters_are_refused(extra, message):
    with pytest.raises(ProtocolError, match=message) as refusal:
        parse_request(json_body([IMAGE_INPUT], **extra), None)
    assert refusal.value.status == 400
