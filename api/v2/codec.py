"""Open Inference Protocol (KServe V2) tensors: JSON and binary request bodies in, response bodies out.

Pure functions on bytes and dicts (no Flask), so every rule of the protocol is unit-tested directly.
Binary tensor data extension: the body is the JSON header, then the raw little-endian row-major bytes of
each input that declares `parameters.binary_data_size`, in the order of the inputs; the header
`Inference-Header-Content-Length` gives the JSON's length. BYTES elements are 4-byte little-endian lengths
followed by their bytes. No library speaks the server side of this protocol without a whole serving stack
(kserve's ModelServer, Triton), so it is written here, to the letter of the spec.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass, field
from http import HTTPStatus

import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMPY_TYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
BYTES = "BYTES"
BYTES_LENGTH = struct.Struct("<I")


class ProtocolError(Exception):
    """A request the protocol refuses: answered {"error": message} with this HTTP status."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message = message
        self.status = int(status)


@dataclass
class InputTensor:
    name: str
    datatype: str
    shape: list[int]
    values: np.ndarray | list[bytes]  # numbers as an array of `shape`; BYTES as a flat list


@dataclass
class OutputRequest:
    name: str
    binary: bool
    classification: int = 0  # Triton's classification extension: top-K "score:index:label" strings


@dataclass
class InferenceRequest:
    id: str | None
    inputs: list[InputTensor]
    outputs: list[OutputRequest] | None  # None: every output
    binary_output_default: bool = False
    parameters: dict = field(default_factory=dict)


def split_body(body: bytes, header_length: str | None) -> tuple[dict, bytes]:
    """The JSON header as a dict and the binary tail after it (empty for a pure JSON request)."""
    if header_length is None:
        json_part, tail = body, b""
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise ProtocolError(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
        if not 0 <= length <= len(body):
            raise ProtocolError(f"{HEADER_LENGTH} is {length} but the body has {len(body)} bytes")
        json_part, tail = body[:length], body[length:]
    try:
        header = json.loads(json_part)
    except (ValueError, RecursionError):
        raise ProtocolError("The request body is not valid JSON.") from None
    if not isinstance(header, dict):
        raise ProtocolError("The request body must be a JSON object.")
    return header, tail


def parse_request(body: bytes, header_length: str | None) -> InferenceRequest:
    """A V2 inference request (JSON or binary) → its tensors, checked against their shapes and types."""
    header, tail = split_body(body, header_length)
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("The request needs a non-empty 'inputs' list.")
    offset, inputs = 0, []
    for raw in raw_inputs:
        tensor, offset = parse_input(raw, tail, offset)
        inputs.append(tensor)
    if offset != len(tail):
        raise ProtocolError(f"The body has {len(tail) - offset} bytes of binary data that no input declares.")
    parameters = {} if header.get("parameters") is None else header["parameters"]
    if not isinstance(parameters, dict):
        raise ProtocolError("'parameters' must be a JSON object.")
    request_id = header.get("id")
    return InferenceRequest(
        id=str(request_id) if request_id is not None else None,
        inputs=inputs,
        outputs=parse_outputs(header.get("outputs"), bool(parameters.get("binary_data_output", False))),
        binary_output_default=bool(parameters.get("binary_data_output", False)),
        parameters=parameters,
    )


def parse_input(raw: object, tail: bytes, offset: int) -> tuple[InputTensor, int]:
    """One input tensor, from its JSON `data` or from the binary tail at `offset`; also the next offset."""
    if not isinstance(raw, dict):
        raise ProtocolError("Each input must be a JSON object with name, shape, datatype and data.")
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str) or not name:
        raise ProtocolError("Each input needs a 'name'.")
    if datatype != BYTES and datatype not in NUMPY_TYPES:
        raise ProtocolError(f"Input '{name}': unknown datatype {datatype!r}.")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ProtocolError(f"Input '{name}': 'shape' must be a list of non-negative integers.")
    count = math.prod(shape)
    parameters = raw.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(tail):
            raise ProtocolError(f"Input '{name}': binary_data_size {size!r} does not fit the binary data sent.")
        values = decode_binary(name, datatype, shape, count, tail[offset : offset + size])
        return InputTensor(name, datatype, shape, values), offset + size
    if "data" not in raw:
        raise ProtocolError(f"Input '{name}' has neither 'data' nor binary data.")
    return InputTensor(name, datatype, shape, decode_json_data(name, datatype, shape, count, raw["data"])), offset


def decode_binary(name: str, datatype: str, shape: list[int], count: int, data: bytes) -> np.ndarray | list[bytes]:
    if datatype == BYTES:
        elements = split_bytes_elements(name, data)
        if len(elements) != count:
            raise ProtocolError(f"Input '{name}': shape {shape} needs {count} elements, got {len(elements)}.")
        return elements
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if len(data) != count * dtype.itemsize:
        raise ProtocolError(
            f"Input '{name}': shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, got {len(data)}."
        )
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def split_bytes_elements(name: str, data: bytes) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(data):
        if offset + BYTES_LENGTH.size > len(data):
            raise ProtocolError(f"Input '{name}': truncated BYTES element length.")
        (length,) = BYTES_LENGTH.unpack_from(data, offset)
        offset += BYTES_LENGTH.size
        if offset + length > len(data):
            raise ProtocolError(f"Input '{name}': a BYTES element is longer than the data sent.")
        elements.append(data[offset : offset + length])
        offset += length
    return elements


def decode_json_data(name: str, datatype: str, shape: list[int], count: int, data: object) -> np.ndarray | list[bytes]:
    """`data` may be nested or flat (row-major); BYTES elements are base64 strings, the common practice."""
    flat = flatten(data)
    if len(flat) != count:
        raise ProtocolError(f"Input '{name}': shape {shape} needs {count} elements, got {len(flat)}.")
    if datatype == BYTES:
        return [decode_base64(name, value) for value in flat]
    if not all(_fits_kind(value, datatype) for value in flat):
        kind = "true or false" if datatype == "BOOL" else "numbers"
        raise ProtocolError(f"Input '{name}': {datatype} data must be {kind}.")
    try:
        return np.asarray(flat, dtype=NUMPY_TYPES[datatype]).reshape(shape)
    except (OverflowError, ValueError):
        raise ProtocolError(f"Input '{name}': a value does not fit {datatype}.") from None


def _fits_kind(value: object, datatype: str) -> bool:
    """JSON true/false only for BOOL tensors; numbers (not booleans) for every other type."""
    if datatype == "BOOL":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(data: object) -> list:
    """Row-major elements of arbitrarily nested lists, without recursion (a hostile body can nest deeply)."""
    flat, stack = [], [iter([data])]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def decode_base64(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError(f"Input '{name}': BYTES data in JSON must be base64 strings.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"Input '{name}': an element is not valid base64.") from None


def parse_outputs(raw: object, binary_default: bool) -> list[OutputRequest] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ProtocolError("'outputs' must be a list.")
    requested = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProtocolError("Each requested output needs a 'name'.")
        parameters = {} if item.get("parameters") is None else item["parameters"]
        if not isinstance(parameters, dict):
            raise ProtocolError(f"Output '{item['name']}': 'parameters' must be a JSON object.")
        classification = parameters.get("classification", 0)
        if not isinstance(classification, int) or isinstance(classification, bool) or classification < 0:
            raise ProtocolError(f"Output '{item['name']}': classification must be a non-negative integer.")
        requested.append(
            OutputRequest(item["name"], bool(parameters.get("binary_data", binary_default)), classification)
        )
    return requested


@dataclass
class OutputTensor:
    name: str
    datatype: str
    values: np.ndarray  # numbers, or an object array of bytes for BYTES


def encode_response(
    model_name: str, model_version: str, request_id: str | None, outputs: list[tuple[OutputTensor, bool]]
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length for the header."""
    described, blobs = [], []
    for tensor, binary in outputs:
        entry: dict[str, object] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.values.shape),
        }
        if binary:
            blob = encode_binary(tensor)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = json_data(tensor)
        described.append(entry)
    header = {"model_name": model_name, "model_version": model_version, "outputs": described}
    if request_id is not None:
        header["id"] = request_id
    json_bytes = json.dumps(header, separators=(",", ":")).encode()
    if not blobs:
        return json_bytes, None
    return json_bytes + b"".join(blobs), len(json_bytes)


def encode_binary(tensor: OutputTensor) -> bytes:
    if tensor.datatype == BYTES:
        return b"".join(BYTES_LENGTH.pack(len(item)) + item for item in tensor.values.ravel())
    return np.ascontiguousarray(tensor.values, dtype=np.dtype(NUMPY_TYPES[tensor.datatype]).newbyteorder("<")).tobytes()


def json_data(tensor: OutputTensor) -> list:
    """Flat, row-major, as the spec allows; BYTES as text (our strings are labels, always UTF-8)."""
    if tensor.datatype == BYTES:
        return [item.decode("utf-8") for item in tensor.values.ravel()]
    return tensor.values.ravel().tolist()
