"""What training/evaluate.py measured about the shipped model (assets/model_metrics.json), as the server reports
it. The file's schema is defined here, once: training/evaluate.py writes it, the server and the model card read it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, TypedDict


class ModelLatency(TypedDict):
    """Milliseconds of one forward pass through ModelWrapper.predict_batch (training/latency.py)."""

    batch_1: float
    batch_1_p90: float
    batch_64_per_image: float
    batch_64_per_image_p90: float
    repeats_batch_1: int
    repeats_batch_64: int
    warmup_calls: int
    intra_op_threads: int
    inter_op_threads: int
    cpu_count: int


class Latency(ModelLatency, total=False):
    """ModelLatency, and one photo through both networks (photo_batch_1, when the photo network is on)."""

    photo_batch_1: float
    photo_batch_1_p90: float
    repeats_photo: int


class RuntimeFigures(TypedDict, total=False):
    """One runtime's figures (the file's "runtimes" entries); the served runtime's are also at the top level."""

    model_file: str
    sha256: str  # of the file that runtime loads: the Keras file, or the ONNX export
    test_accuracy: float
    macro_f1: float
    expected_calibration_error: float
    latency_ms: Latency
    test_accuracy_flip_averaging: float
    expected_calibration_error_flip_averaging: float
    latency_ms_flip_averaging: Latency
    onnxruntime_version: str
    tensorflow_version: str
    photo_validation_accuracy: float
    photo_validation_accuracy_flip_averaging: float
    photo_final_check_accuracy: float
    photo_final_check_accuracy_flip_averaging: float


class ModelMetrics(RuntimeFigures, total=False):
    """The whole model_metrics.json document; "sha256" is the Keras file's, which the server checks."""

    runtime: str
    runtime_requested: str
    calibration_bins: int
    test_images: int
    per_class: list[dict[str, Any]]
    confusion_matrix: list[list[int]]
    largest_confusions: list[dict[str, Any]]
    parameters: int
    network: dict[str, Any]
    runtimes: dict[str, RuntimeFigures]
    runtime_agreement: dict[str, Any]
    photo_validation: dict[str, Any]
    photo_final_check: dict[str, Any]
    none_of_the_ten: dict[str, Any]
    photo_network: dict[str, Any]
    targets: dict[str, dict[str, Any]]
    training_record: str
    evaluated_at: str
    command: str


logger = logging.getLogger(__name__)


def read_model_metrics(path: Path, model_sha256: str) -> ModelMetrics:
    """The measured figures, only when they were measured on this very model file.

    A model retrained without re-running the evaluation must not report the old model's accuracy.
    """
    try:
        metrics = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        logger.warning("no model metrics at %s (%s): metadata will not report accuracy", path, error)
        return {}
    if metrics.get("sha256") != model_sha256:
        logger.warning("model metrics at %s were measured on another model file: ignored", path)
        return {}
    return metrics


def served_figures(metrics: ModelMetrics, runtime: str, onnx_sha256: str | None) -> RuntimeFigures:
    """The figures measured with the runtime that serves: int8 ONNX and float32 TensorFlow differ slightly.

    ONNX Runtime's figures count only for the very export served (a re-export may quantize differently).
    A metrics file without a per-runtime section predates the ONNX export: it was measured with TensorFlow.
    """
    by_runtime = metrics.get("runtimes")
    if by_runtime is None:
        return metrics if runtime == "tensorflow" else {}
    figures = by_runtime.get(runtime) or {}
    if runtime == "onnxruntime" and figures.get("sha256") != onnx_sha256:
        return {}
    return figures
