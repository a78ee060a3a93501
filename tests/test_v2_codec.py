"""The V2 protocol's wire format: JSON and binary tensors in, JSON and binary tensors out, clear refusals."""

import base64
import json
import re
import struct

import numpy as np
import pytest

from api.v2.codec import (
    BYTES_LENGTH,
    NUMPY_TYPES,
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
        request = parse_request(
            json_body([{"name": "image", "shape": [2, 2, 2], "datatype": "FP32", "data": data}]), None
        )
        np.testing.assert_array_equal(request.inputs[0].values, np.arange(1, 9, dtype=np.float32).reshape(2, 2, 2))


def test_binary_inputs_follow_the_json_header_in_order():
    first = np.arange(4, dtype=np.float32)
    second = [b"ab", b""]
    second_bytes = b"".join(BYTES_LENGTH.pack(len(e)) + e for e in second)
    header = json.dumps(
        {
            "id": "7",
            "inputs": [
                {"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                {"name": "b", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(second_bytes)}},
            ],
        }
    ).encode()
    request = parse_request(header + first.tobytes() + second_bytes, str(len(header)))
    np.testing.assert_array_equal(request.inputs[0].values, first.reshape(2, 2))
    assert request.inputs[1].values == second and request.id == "7"


def test_bytes_in_json_are_base64():
    request = parse_request(
        json_body([{"name": "f", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(b"\x89PNG").decode()]}]),
        None,
    )
    assert request.inputs[0].values == [b"\x89PNG"]


def binary_body(inputs: list[dict], tail: bytes) -> tuple[bytes, str]:
    header = json.dumps({"inputs": inputs}).encode()
    return header + tail, str(len(header))


FP32_X = {"name": "x", "shape": [1], "datatype": "FP32"}


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (b"not json", None, "The request body is not valid JSON."),
        (b"[1, 2]", None, "The request body must be a JSON object."),
        (b'{"inputs": []}', "0", "The request body is not valid JSON."),
        (json_body([]), None, "The request needs a non-empty 'inputs' list."),
        (b'{"inputs": {"name": "x"}}', None, "The request needs a non-empty 'inputs' list."),
        (json_body(["x"]), None, "Each input must be a JSON object with name, shape, datatype and data."),
        (json_body([{"shape": [1], "datatype": "FP32", "data": [1]}]), None, "Each input needs a 'name'."),
        (json_body([{"name": 7, "shape": [1], "datatype": "FP32", "data": [1]}]), None, "Each input needs a 'name'."),
        (json_body([{"name": "", "shape": [1], "datatype": "FP32", "data": [1]}]), None, "Each input needs a 'name'."),
        (
            json_body([{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]),
            None,
            "Input 'x': shape [2] needs 2 elements, got 1.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]),
            None,
            "Input 'x': unknown datatype 'FP99'.",
        ),
        (
            json_body([{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]),
            None,
            "Input 'x': 'shape' must be a list of non-negative integers.",
        ),
        (
            json_body([{"name": "x", "shape": [True], "datatype": "FP32", "data": [1]}]),
            None,
            "Input 'x': 'shape' must be a list of non-negative integers.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]),
            None,
            "Input 'x': FP32 data must be numbers.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [True]}]),
            None,
            "Input 'x': FP32 data must be numbers.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]),
            None,
            "Input 'x': BOOL data must be true or false.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "UINT8", "data": [300]}]),
            None,
            "Input 'x': a value does not fit UINT8.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "FP32"}]),
            None,
            "Input 'x' has neither 'data' nor binary data.",
        ),
        (
            json_body([{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["%%%"]}]),
            None,
            "Input 'x': an element is not valid base64.",
        ),
        (
            json_body([{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}])
            + b"\0" * 4,
            None,
            "The request body is not valid JSON.",
        ),
        (
            *binary_body([{**FP32_X, "parameters": {"binary_data_size": "4"}}], b"\0" * 4),
            "Input 'x': binary_data_size '4' does not fit the binary data sent.",
        ),
        (
            *binary_body([{**FP32_X, "parameters": {"binary_data_size": -4}}], b"\0" * 4),
            "Input 'x': binary_data_size -4 does not fit the binary data sent.",
        ),
        (
            *binary_body(
                [
                    {**FP32_X, "parameters": {"binary_data_size": 4}},
                    {"name": "y", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}},
                ],
                b"\0" * 6,
            ),
            "Input 'y': binary_data_size 4 does not fit the binary data sent.",
        ),
        (
            *binary_body([{**FP32_X, "parameters": {"binary_data_size": 4}}], b"\0" * 12),
            "The body has 8 bytes of binary data that no input declares.",
        ),
        (b'{"inputs": []}', "999", "Inference-Header-Content-Length is 999 but the body has 14 bytes"),
        (b'{"inputs": []}', "-1", "Inference-Header-Content-Length is -1 but the body has 14 bytes"),
        (b'{"inputs": []}', "ten", "Inference-Header-Content-Length must be an integer, got 'ten'"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(body, header, message):
    with pytest.raises(ProtocolError) as refusal:
        parse_request(body, header)
    assert refusal.value.message == str(refusal.value) == message
    assert refusal.value.status == 400


def test_binary_data_of_the_wrong_length_is_refused():
    header = json.dumps(
        {"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}
    ).encode()
    with pytest.raises(ProtocolError, match=re.escape("Input 'a': shape [2] of FP32 needs 8 bytes, got 4.")):
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
    body = json_body(
        [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
        outputs=[{"name": "label", "parameters": {"binary_data": True, "classification": 3}}, {"name": "label_id"}],
        parameters={"binary_data_output": False},
    )
    outputs = parse_request(body, None).outputs
    assert [(o.name, o.binary, o.classification) for o in outputs] == [("label", True, 3), ("label_id", False, 0)]


def test_response_json_and_binary_round_trip():
    probabilities = OutputTensor("p", "FP32", np.array([[0.25, 0.75]], dtype=np.float32))
    labels = OutputTensor("l", "BYTES", np.array([b"Bag"], dtype=object))
    body, length = encode_response("m", "1", "9", [(probabilities, False), (labels, False)])
    assert length is None
    assert json.loads(body) == {
        "model_name": "m",
        "model_version": "1",
        "id": "9",
        "outputs": [
            {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]},
            {"name": "l", "datatype": "BYTES", "shape": [1], "data": ["Bag"]},
        ],
    }
    body, length = encode_response("m", "1", None, [(probabilities, True), (labels, True)])
    header = json.loads(body[:length])
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [8, 7]
    tail = body[length:]
    np.testing.assert_array_equal(np.frombuffer(tail[:8], dtype="<f4"), [0.25, 0.75])
    assert tail[8:] == struct.pack("<I", 3) + b"Bag"


def binary_bytes_request(elements_data: bytes, shape: list[int]) -> tuple[bytes, str]:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image_bytes",
                    "shape": shape,
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(elements_data)},
                }
            ]
        }
    ).encode()
    return header + elements_data, str(len(header))


def test_binary_bytes_must_hold_as_many_elements_as_the_shape_says():
    """Else a request declaring shape [1] could carry any number of images past V2_MAX_BATCH."""
    two = b"".join(BYTES_LENGTH.pack(len(e)) + e for e in (b"ab", b"cd"))
    with pytest.raises(ProtocolError, match=r"needs 1 elements, got 2"):
        parse_request(*binary_bytes_request(two, [1]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00", "Input 'image_bytes': truncated BYTES element length"),
        (BYTES_LENGTH.pack(9) + b"abc", "Input 'image_bytes': a BYTES element is longer than the data sent"),
    ],
)
def test_cut_binary_bytes_elements_are_refused(data, message):
    with pytest.raises(ProtocolError, match=message):
        parse_request(*binary_bytes_request(data, [1]))


IMAGE_INPUT = {"name": "image", "shape": [1], "datatype": "FP32", "data": [1]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"outputs": {"name": "label"}}, "'outputs' must be a list."),
        ({"outputs": ["label"]}, "Each requested output needs a 'name'."),
        ({"outputs": [{"name": 3}]}, "Each requested output needs a 'name'."),
        ({"parameters": ["binary_data_output"]}, "'parameters' must be a JSON object."),
        ({"parameters": []}, "'parameters' must be a JSON object."),
        (
            {"outputs": [{"name": "label", "parameters": {"classification": -1}}]},
            "Output 'label': classification must be a non-negative integer.",
        ),
        (
            {"outputs": [{"name": "label", "parameters": {"classification": "3"}}]},
            "Output 'label': classification must be a non-negative integer.",
        ),
        (
            {"outputs": [{"name": "label", "parameters": {"classification": True}}]},
            "Output 'label': classification must be a non-negative integer.",
        ),
        ({"outputs": [{"name": "label", "parameters": []}]}, "Output 'label': 'parameters' must be a JSON object."),
    ],
)
def test_malformed_outputs_and_parameters_are_refused(extra, message):
    with pytest.raises(ProtocolError) as refusal:
        parse_request(json_body([IMAGE_INPUT], **extra), None)
    assert refusal.value.message == message and refusal.value.status == 400


@pytest.mark.parametrize("datatype", ["UINT8", "INT64", "FP16", "FP32", "FP64", "BOOL"])
def test_binary_and_json_data_give_the_same_tensor_of_the_declared_type(datatype):
    values = np.array([[0, 1], [1, 0]], dtype=NUMPY_TYPES[datatype])
    as_json = (
        parse_request(
            json_body([{"name": "x", "shape": [2, 2], "datatype": datatype, "data": values.ravel().tolist()}]), None
        )
        .inputs[0]
        .values
    )
    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [2, 2], "datatype": datatype, "parameters": {"binary_data_size": values.nbytes}}
            ]
        }
    ).encode()
    as_binary = (
        parse_request(header + values.astype(values.dtype.newbyteorder("<")).tobytes(), str(len(header)))
        .inputs[0]
        .values
    )
    for tensor in (as_json, as_binary):
        assert tensor.dtype == values.dtype and tensor.shape == (2, 2)
        np.testing.assert_array_equal(tensor, values)


def test_a_large_int64_survives_binary_decoding_exactly():
    big = np.array([2**62 + 1], dtype=np.int64)
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "parameters": {"binary_data_size": 8}}]}
    ).encode()
    assert int(parse_request(header + big.tobytes(), str(len(header))).inputs[0].values[0]) == 2**62 + 1


def test_bytes_in_json_that_are_not_strings_are_refused_by_name():
    with pytest.raises(ProtocolError, match="Input 'f': BYTES data in JSON must be base64 strings"):
        parse_request(json_body([{"name": "f", "shape": [1], "datatype": "BYTES", "data": [7]}]), None)


def test_binary_outputs_are_the_declared_type_whatever_the_array_holds():
    """Float64 probabilities declared FP32 go out as 4-byte floats, as binary_data_size says."""
    probabilities = OutputTensor("p", "FP32", np.array([[0.25, 0.75]], dtype=np.float64))
    ids = OutputTensor("i", "INT64", np.array([1], dtype=np.int32))
    body, length = encode_response("m", "1", None, [(probabilities, True), (ids, True)])
    header = json.loads(body[:length])
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [8, 8]
    np.testing.assert_array_equal(np.frombuffer(body[length : length + 8], dtype="<f4"), [0.25, 0.75])
    assert np.frombuffer(body[length + 8 :], dtype="<i8").tolist() == [1]


def test_several_binary_bytes_outputs_are_length_prefixed_back_to_back():
    labels = OutputTensor("l", "BYTES", np.array([b"Bag", b"", b"Ankle boot"], dtype=object))
    body, length = encode_response("m", "1", None, [(labels, True)])
    assert json.loads(body[:length])["outputs"][0]["parameters"]["binary_data_size"] == 3 * 4 + 13
    tail = body[length:]
    assert tail == b"".join(struct.pack("<I", len(e)) + e for e in (b"Bag", b"", b"Ankle boot"))


@pytest.mark.parametrize(
    ("parameters", "binary"),
    [({}, False), ({"binary_data_output": False}, False), ({"binary_data_output": True}, True)],
)
def test_binary_data_output_is_the_default_for_every_output(parameters, binary):
    body = json_body([IMAGE_INPUT], parameters=parameters)
    everything = parse_request(body, None)
    assert everything.outputs is None and everything.binary_output_default is binary
    assert everything.parameters == parameters
    outputs = [{"name": "label"}, {"name": "label_id", "parameters": {"binary_data": False}}]
    named = parse_request(json_body([IMAGE_INPUT], parameters=parameters, outputs=outputs), None)
    assert [(o.name, o.binary) for o in named.outputs] == [("label", binary), ("label_id", False)]


def test_the_request_id_is_kept_as_text_and_absent_when_not_sent():
    assert parse_request(json_body([IMAGE_INPUT], id=42), None).id == "42"
    assert parse_request(json_body([IMAGE_INPUT]), None).id is None


def test_binary_inputs_keep_their_name_type_and_shape_and_may_be_empty():
    empty = {"name": "nothing", "shape": [0, 3], "datatype": "UINT8", "parameters": {"binary_data_size": 0}}
    pixels = {"name": "image", "shape": [1, 3], "datatype": "UINT8", "parameters": {"binary_data_size": 3}}
    request = parse_request(*binary_body([empty, pixels], b"\x01\x02\x03"))
    assert [(t.name, t.datatype, t.shape) for t in request.inputs] == [
        ("nothing", "UINT8", [0, 3]),
        ("image", "UINT8", [1, 3]),
    ]
    assert request.inputs[0].values.shape == (0, 3)
    assert request.inputs[1].values.tolist() == [[1, 2, 3]]


def test_parameters_of_an_input_that_are_not_an_object_are_ignored():
    """Unknown parameters are tolerated; only a binary_data_size in a parameters object means binary data."""
    request = parse_request(json_body([{**IMAGE_INPUT, "parameters": ["binary_data_size", 4]}]), None)
    assert request.inputs[0].values.tolist() == [1.0]
