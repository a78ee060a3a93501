"""The Open Inference Protocol's model, whatever the transport (HTTP in routes.py, gRPC in api/grpc/): which
model is served and its metadata, from V2 input tensors to the model's batch, and from its answers to the V2
output tensors."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import numpy as np

import config
from api.v2.codec import BYTES, InferenceRequest, InputTensor, OutputRequest, OutputTensor, ProtocolError
from config import Settings
from core.images import MODEL_SIDE, InvalidImageError, ModelInputs
from core.labels import CLASS_NAMES, NUM_CLASSES
from core.model import Answers, ModelWrapper

IMAGE_INPUT = "image"  # FP32 or UINT8 [N, 28, 28] or [N, 28, 28, 1], already Fashion-MNIST-like
IMAGE_BYTES_INPUT = "image_bytes"  # BYTES [N]: encoded image files, pre-processed like /model/predict
PROBABILITIES, LABEL_ID, LABEL, NONE_OF_THE_TEN = "probabilities", "label_id", "label", "none_of_the_ten"
OUTPUT_TYPES = {PROBABILITIES: "FP32", LABEL_ID: "INT64", LABEL: BYTES, NONE_OF_THE_TEN: "FP32"}
# The classification extension's label of the none_of_the_ten output: whether the score reached the threshold.
FLAGGED_LABELS = {True: "none of the ten", False: "one of the ten"}
ARRAY_TYPES = ("FP32", "UINT8")
MAX_UNIT_VALUE = 1.0  # FP32 images whose values all lie in 0-1 are taken as 0-1; otherwise as 0-255


Preprocess = Callable[[bytes], ModelInputs]
EXTENSIONS = ("binary_tensor_data", "classification")


def server_metadata() -> dict:
    """The server's name, version and the protocol extensions it supports."""
    return {"name": config.MODEL_ID, "version": config.API_VERSION, "extensions": list(EXTENSIONS)}


def check_model(name: str, version: str | None, served_name: str) -> None:
    """Refuses (404, NOT_FOUND over gRPC) a model or version this server does not serve; an empty or absent
    version is the server's choice."""
    if name != served_name:
        raise ProtocolError(f"Unknown model '{name}'; this server serves '{served_name}'.", HTTPStatus.NOT_FOUND)
    if version and version != config.V2_MODEL_VERSION:
        raise ProtocolError(
            f"Unknown version '{version}' of model '{name}'; it has version '{config.V2_MODEL_VERSION}'.",
            HTTPStatus.NOT_FOUND,
        )


def model_metadata(served_name: str, runtime: str) -> dict:
    """The model's name, versions, platform (by the runtime serving it), inputs (send one of them) and outputs."""
    return {
        "name": served_name,
        "versions": [config.V2_MODEL_VERSION],
        "platform": config.V2_PLATFORMS[runtime],
        "inputs": [
            {"name": IMAGE_INPUT, "datatype": "FP32", "shape": [-1, MODEL_SIDE, MODEL_SIDE, 1]},
            {"name": IMAGE_BYTES_INPUT, "datatype": BYTES, "shape": [-1]},
        ],
        "outputs": [
            {"name": name, "datatype": datatype, "shape": [-1, NUM_CLASSES] if name == PROBABILITIES else [-1]}
            for name, datatype in OUTPUT_TYPES.items()
        ],
    }


def infer(model: ModelWrapper, request: InferenceRequest, settings: Settings) -> list[tuple[OutputTensor, bool]]:
    """A checked request's answer: its input through the model (files through the model's own pre-processing),
    then the outputs it asks for, each with whether it goes out as binary."""
    batch = model_batch(request, settings.v2_max_batch, model.preprocess)
    answers = model.infer(batch) if isinstance(batch, np.ndarray) else model.infer_inputs(batch)
    return output_tensors(answers, request, settings.none_of_the_ten_threshold)


def model_batch(request: InferenceRequest, max_batch: int, preprocess: Preprocess) -> np.ndarray | list[ModelInputs]:
    """The one input of the request as the model takes it, at most `max_batch` images (the V2_MAX_BATCH setting):
    'image' as the (N, 28, 28, 1) float32 batch in [0, 1] of the 28×28 network (ModelWrapper.infer);
    'image_bytes' as each file put through `preprocess`, the model's own pre-processing of /model/predict's
    uploads (ModelWrapper.preprocess, then ModelWrapper.infer_inputs)."""
    if len(request.inputs) != 1:
        raise ProtocolError(
            f"Send exactly one input ('{IMAGE_INPUT}' or '{IMAGE_BYTES_INPUT}'), got {len(request.inputs)}."
        )
    tensor = request.inputs[0]
    if tensor.shape and tensor.shape[0] > max_batch:
        raise ProtocolError(f"At most {max_batch} images per request, got {tensor.shape[0]}.")
    if tensor.name == IMAGE_BYTES_INPUT:
        return batch_from_files(tensor, preprocess)
    if tensor.name == IMAGE_INPUT:
        return batch_from_array(tensor)
    raise ProtocolError(f"Unknown input '{tensor.name}': this model takes '{IMAGE_INPUT}' or '{IMAGE_BYTES_INPUT}'.")


def batch_from_array(tensor: InputTensor) -> np.ndarray:
    if tensor.datatype not in ARRAY_TYPES:
        raise ProtocolError(f"Input '{IMAGE_INPUT}' must be FP32 or UINT8, got {tensor.datatype}.")
    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4) or shape[1:3] != (MODEL_SIDE, MODEL_SIDE) or (len(shape) == 4 and shape[3] != 1):
        raise ProtocolError(f"Input '{IMAGE_INPUT}' must have shape [N, 28, 28] or [N, 28, 28, 1], got {list(shape)}.")
    if shape[0] == 0:
        raise ProtocolError(f"Input '{IMAGE_INPUT}' holds no image (N = 0).")
    values = np.asarray(tensor.values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise ProtocolError(f"Input '{IMAGE_INPUT}' contains NaN or infinite values.")
    if tensor.datatype == "UINT8" or values.max(initial=0.0) > MAX_UNIT_VALUE:
        if values.min(initial=0.0) < 0 or values.max(initial=0.0) > 255:
            raise ProtocolError(f"Input '{IMAGE_INPUT}' values must lie in 0-255 (or all in 0-1).")
        values = values / 255.0
    elif values.min(initial=0.0) < 0:
        raise ProtocolError(f"Input '{IMAGE_INPUT}' values must lie in 0-1 (or 0-255).")
    return values.reshape(-1, MODEL_SIDE, MODEL_SIDE, 1)


def batch_from_files(tensor: InputTensor, preprocess: Preprocess) -> list[ModelInputs]:
    if tensor.datatype != BYTES or len(tensor.shape) != 1 or tensor.shape[0] == 0:
        raise ProtocolError(
            f"Input '{IMAGE_BYTES_INPUT}' must be BYTES of shape [N], N > 0, got {tensor.datatype} {tensor.shape}."
        )
    inputs = []
    for index, data in enumerate(tensor.values):
        try:
            inputs.append(preprocess(data))
        except InvalidImageError as error:
            raise ProtocolError(f"Input '{IMAGE_BYTES_INPUT}' element {index}: {error}") from None
    return inputs


def output_tensors(answers: Answers, request: InferenceRequest, threshold: float) -> list[tuple[OutputTensor, bool]]:
    """The requested outputs (all when none are named), each with whether it goes out as binary; `threshold`:
    the NONE_OF_THE_TEN_THRESHOLD setting."""
    requested = request.outputs
    if requested is None:
        requested = [OutputRequest(name, request.binary_output_default) for name in OUTPUT_TYPES]
    return [(output_tensor(answers, wanted, threshold), wanted.binary) for wanted in requested]


def output_tensor(answers: Answers, wanted: OutputRequest, threshold: float) -> OutputTensor:
    if wanted.name not in OUTPUT_TYPES:
        raise ProtocolError(f"Unknown output '{wanted.name}': this model has {', '.join(OUTPUT_TYPES)}.")
    probabilities = answers.probabilities
    if wanted.name == NONE_OF_THE_TEN:
        if wanted.classification:
            return OutputTensor(wanted.name, BYTES, none_of_the_ten_strings(answers, threshold))
        return OutputTensor(NONE_OF_THE_TEN, "FP32", answers.none_scores.astype(np.float32))
    if wanted.classification:
        return OutputTensor(wanted.name, BYTES, classification_strings(probabilities, wanted.classification))
    label_ids = probabilities.argmax(axis=1).astype(np.int64)
    if wanted.name == PROBABILITIES:
        return OutputTensor(PROBABILITIES, "FP32", probabilities.astype(np.float32))
    if wanted.name == LABEL_ID:
        return OutputTensor(LABEL_ID, "INT64", label_ids)
    return OutputTensor(LABEL, BYTES, np.array([CLASS_NAMES[i].encode() for i in label_ids], dtype=object))


def none_of_the_ten_strings(answers: Answers, threshold: float) -> np.ndarray:
    """The classification extension on none_of_the_ten, a one-value output: [N, 1] of b"score:0:label", the label
    "none of the ten" when the score reaches the threshold, else "one of the ten"."""
    flagged = answers.flagged(threshold)
    rows = [
        [f"{score:f}:0:{FLAGGED_LABELS[bool(flag)]}".encode()]
        for score, flag in zip(answers.none_scores, flagged, strict=True)
    ]
    return np.array(rows, dtype=object).reshape(len(rows), 1)


def classification_strings(probabilities: np.ndarray, top_k: int) -> np.ndarray:
    """Triton's classification extension: [N, K] of b"score:index:label", most likely first."""
    top_k = min(top_k, probabilities.shape[1])
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    rows = [
        [f"{row[i]:f}:{i}:{CLASS_NAMES[i]}".encode() for i in indices]
        for row, indices in zip(probabilities, order, strict=True)
    ]
    return np.array(rows, dtype=object).reshape(len(rows), top_k)
