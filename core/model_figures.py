"""What training/evaluate.py measured about the shipped model, as the server reports it."""
from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def read_model_metrics(path: Path, model_sha256: str) -> dict:
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


def served_figures(metrics: dict, runtime: str, onnx_sha256: str | None) -> dict:
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
