"""The served model: verified, loaded once, traced once, then called for every request.

Follows MAX's MAXModelWrapper contract: predict() = _post_process(_predict(_pre_process(x))).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from maxfw.model import MAXModelWrapper

import config
from core.batching import MicroBatcher
from core.checksum import verify_checksum
from core.images import MODEL_SIDE, image_to_model_array
from core.labels import CLASS_NAMES
from core.model_figures import read_model_metrics, served_figures
from core.runtimes import MODEL_INPUT_SHAPE, choose_runtime, load_runtime
from core.telemetry import record_batch, record_model_load, record_predictions

logger = logging.getLogger(__name__)


def to_model_batch(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 → (N, 28, 28, 1) float32 in [0, 1], the scaling used in training."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(-1, MODEL_SIDE, MODEL_SIDE, 1)


def top_k_predictions(probabilities: np.ndarray, top_k: int) -> list[dict]:
    """The k most likely classes of one image, most likely first, in the API's record shape."""
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    return [{"prediction": int(i), "label_id": int(i), "label": CLASS_NAMES[i],
             "probability": float(probabilities[i])} for i in order]


class ModelWrapper(MAXModelWrapper):
    """Checks the model's sha256, then serves it through ONNX Runtime or TensorFlow (core/runtimes.py)."""

    MODEL_META_DATA: ClassVar[dict[str, str]] = {
        "id": config.MODEL_ID,
        "name": config.MODEL_NAME,
        "description": config.MODEL_DESCRIPTION,
        "type": config.MODEL_TYPE,
        "source": config.MODEL_SOURCE,
        "license": config.MODEL_LICENSE,
    }

    def __init__(self, path: Path = config.MODEL_PATH, checksum_path: Path = config.MODEL_SHA256_PATH,
                 metrics_path: Path = config.MODEL_METRICS_PATH, flip_averaging: bool = config.TTA_FLIP,
                 max_batch_size: int = config.MAX_BATCH_SIZE,
                 max_batch_delay_ms: float = config.MAX_BATCH_DELAY_MS, runtime: str = config.INFERENCE_RUNTIME,
                 onnx_path: Path = config.ONNX_MODEL_PATH,
                 onnx_checksum_path: Path = config.ONNX_MODEL_SHA256_PATH) -> None:
        super().__init__(path)
        self.flip_averaging = flip_averaging
        started = time.perf_counter()
        self.sha256 = verify_checksum(Path(path), Path(checksum_path))
        self.runtime, export = choose_runtime(runtime, Path(onnx_path), Path(onnx_checksum_path), self.sha256,
                                              config.INTRA_OP_THREADS, config.INTER_OP_THREADS)
        self.onnx_sha256 = export.sha256 if export else None
        self._infer = load_runtime(Path(path), export, config.INTRA_OP_THREADS, config.INTER_OP_THREADS,
                                   flip_averaging)
        self.metrics = served_figures(read_model_metrics(Path(metrics_path), self.sha256), self.runtime,
                                      self.onnx_sha256)
        self.batcher = (MicroBatcher(self.predict_batch, max_batch_size, max_batch_delay_ms, MODEL_INPUT_SHAPE)
                        if max_batch_size > 1 else None)
        self.load_seconds = time.perf_counter() - started
        record_model_load(self.load_seconds)
        logger.info("model %s loaded with %s and warmed up in %.2f s (sha256 %s)", path, self.runtime,
                    self.load_seconds, self.sha256)

    @property
    def metadata(self) -> dict:
        """MAX metadata plus what was measured about this exact model file, with the runtime serving it."""
        accuracy_key = "test_accuracy_flip_averaging" if self.flip_averaging else "test_accuracy"
        return {**self.MODEL_META_DATA, "sha256": self.sha256, "runtime": self.runtime,
                "test_accuracy": self.metrics.get(accuracy_key)}

    def _pre_process(self, x: bytes) -> np.ndarray:
        return to_model_batch(image_to_model_array(x))

    def _predict(self, x: np.ndarray) -> np.ndarray:
        """Through the micro-batcher when it is on: concurrent requests then share a forward pass."""
        if self.batcher is None:
            probabilities = self.predict_batch(x)
        else:
            probabilities = self.batcher.run(x, timeout=config.TIMEOUT)
        record_predictions(probabilities)
        return probabilities

    def _post_process(self, x: np.ndarray) -> np.ndarray:
        return x[0]

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] → (N, 10) class probabilities."""
        record_batch(len(batch))
        return self._infer(batch)

    @property
    def ready(self) -> bool:
        """Taking requests: loaded and warmed up (done in __init__), and not shutting down."""
        return self.batcher is None or not self.batcher.closed

    def predict_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] → (N, 10) probabilities, through the micro-batcher when on."""
        return self._predict(batch)

    def close(self) -> None:
        """Serve what the micro-batcher already holds, then stop its thread (at worker exit)."""
        if self.batcher is not None:
            self.batcher.close(timeout=config.GRACEFUL_TIMEOUT)

    def classify(self, image_bytes: bytes, top_k: int = config.DEFAULT_TOP_K) -> list[dict]:
        """An encoded image file → its top_k predictions; raises InvalidImageError for a non-image."""
        return self.classify_array(image_to_model_array(image_bytes), top_k)

    def classify_array(self, model_input: np.ndarray, top_k: int = config.DEFAULT_TOP_K) -> list[dict]:
        """An already pre-processed (28, 28) uint8 image → its top_k predictions (the API's debug path
        shows this same array, so it is computed once)."""
        return top_k_predictions(self._post_process(self._predict(to_model_batch(model_input))), top_k)
