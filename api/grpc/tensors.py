"""ModelInferRequest → the V2 codec's InferenceRequest, and the V2 output tensors → ModelInferResponse.

The same tensors and the same refusals as HTTP V2 (api/v2/codec.py): raw contents are the binary tensor data
extension's bytes, typed contents are JSON's `data`, and both are checked by the codec's own functions, so a
request is refused with the message HTTP would give.
"""

from __future__ import annotations

import math

import numpy as np

from api.grpc.messages import ModelInferResponse
from api.v2.codec import (
    BYTES,
    NUMPY_TYPES,
    InferenceRequest,
    InputTensor,
    OutputRequest,
    OutputTensor,
    ProtocolError,
    decode_binary,
    encode_binary,
)

# InferTensorContents' field for each datatype (FP16 and BF16 have none: they travel as raw contents only).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    BYTES: "bytes_contents",
}
CLASSIFICATION = "classification"


def inference_request(message) -> InferenceRequest:
    """A ModelInferRequest as the codec's InferenceRequest: inputs decoded and checked against their shapes."""
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(message.inputs):
        raise ProtocolError(f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs.")
    if not message.inputs:
        raise ProtocolError("The request needs a non-empty 'inputs' list.")
    inputs = [input_tensor(tensor, raw[index] if raw else None) for index, tensor in enumerate(message.inputs)]
    return InferenceRequest(
        id=message.id or None,
        inputs=inputs,
        outputs=[requested_output(output) for output in message.outputs] or None,
        binary_output_default=True,
    )


def input_tensor(tensor, raw: bytes | None) -> InputTensor:
    """One input, from its raw bytes (when the request sends raw contents) or its typed contents."""
    name, datatype, shape = tensor.name, tensor.datatype, list(tensor.shape)
    if not name:
        raise ProtocolError("Each input needs a 'name'.")
    if datatype != BYTES and datatype not in NUMPY_TYPES:
        raise ProtocolError(f"Input '{name}': unknown datatype {datatype!r}.")
    if any(dimension < 0 for dimension in shape):
        raise ProtocolError(f"Input '{name}': 'shape' must be a list of non-negative integers.")
    count = math.prod(shape)
    if raw is not None:
        return InputTensor(name, datatype, shape, decode_binary(name, datatype, shape, count, raw))
    field = CONTENTS_FIELDS.get(datatype)
    if field is None:
        raise ProtocolError(f"Input '{name}': {datatype} data must be sent in raw_input_contents.")
    values = list(getattr(tensor.contents, field))
    if len(values) != count:
        raise ProtocolError(f"Input '{name}': shape {shape} needs {count} elements, got {len(values)}.")
    if datatype == BYTES:
        return InputTensor(name, datatype, shape, values)
    try:
        return InputTensor(name, datatype, shape, np.asarray(values, dtype=NUMPY_TYPES[datatype]).reshape(shape))
    except (OverflowError, ValueError):
        raise ProtocolError(f"Input '{name}': a value does not fit {datatype}.") from None


def requested_output(output) -> OutputRequest:
    """A requested output; its `classification` parameter (an int64) asks for top-K "score:index:label" strings."""
    classification = 0
    if CLASSIFICATION in output.parameters:
        parameter = output.parameters[CLASSIFICATION]
        if parameter.WhichOneof("parameter_choice") != "int64_param" or parameter.int64_param < 0:
            raise ProtocolError(f"Output '{output.name}': classification must be a non-negative integer.")
        classification = parameter.int64_param
    return OutputRequest(output.name, binary=True, classification=classification)


def inference_response(model_name: str, model_version: str, request_id: str | None, outputs: list[OutputTensor]):
    """The ModelInferResponse: each output's name, datatype and shape, its data in raw_output_contents (what
    tritonclient reads by default; BYTES as length-prefixed elements)."""
    response = ModelInferResponse(model_name=model_name, model_version=model_version, id=request_id or "")
    for tensor in outputs:
        response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.values.shape))
        response.raw_output_contents.append(encode_binary(tensor))
    return response
