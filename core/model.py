"""The served model: verified, loaded once, traced once, then called for every request.

Follows MAX's MAXModelWrapper contract: predict() = _post_process(_predict(_pre_process(x))).
"""
from __future__ import annotations

import logging
import time
from typing import ClassVar

import numpy as np
from maxfw.model import MAXModelWrapper

import config
from config import SETTINGS, Settings
from core.batching import MicroBatcher
from core.checksum import verify_checksum
from core.images import MODEL_SIDE, image_to_model_array, set_image_memory, set_pixel_limit
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
    """Checks the model's sha256, then serves it through ONNX Runtime or TensorFlow (core/runtimes.py).

    Three ways in: predict_batch (one forward pass, no queue), infer (through the micro-batcher, shared with
    concurrent requests) and classify (one image's top-k records). MAX's predict() runs through _pre_process,
    _predict and _post_process, which delegate to them.
    """

    MODEL_META_DATA: ClassVar[dict[str, str]] = {
        "id": config.MODEL_ID,
        "name": config.MODEL_NAME,
        "description": config.MODEL_DESCRIPTION,
        "type": config.MODEL_TYPE,
        "source": config.MODEL_SOURCE,
        "license": config.MODEL_LICENSE,
    }

    def __init__(self, settings: Settings = SETTINGS) -> None:
        super().__init__(settings.model_path)
        self.settings = settings
        set_pixel_limit(settings.max_image_pixels)
        set_image_memory(settings.image_memory_bytes, settings.image_memory_wait)
        started = time.perf_counter()
        self.sha256 = verify_checksum(settings.model_path, settings.model_sha256_path)
        self.runtime, export = choose_runtime(settings.inference_runtime, settings.onnx_model_path,
                                              settings.onnx_model_sha256_path, self.sha256,
                                              settings.intra_op_threads, settings.inter_op_threads)
        self.onnx_sha256 = export.sha256 if export else None
        self._infer = load_runtime(settings.model_path, export, settings.intra_op_threads,
                                   settings.inter_op_threads, settings.tta_flip)
        self.metrics = served_figures(read_model_metrics(settings.model_metrics_path, self.sha256), self.runtime,
                                      self.onnx_sha256)
        self.batcher = (MicroBatcher(self.predict_batch, settings.max_batch_size, settings.max_batch_delay_ms,
                                     MODEL_INPUT_SHAPE)
                        if settings.max_batch_size > 1 else None)
        self.load_seconds = time.perf_counter() - started
        record_model_load(self.load_seconds)
        logger.info("model %s loaded with %s and warmed up in %.2f s (sha256 %s)", settings.model_path,
                    self.runtime, self.load_seconds, self.sha256)

    @property
    def metadata(self) -> dict:
        """MAX metadata plus what was measured about this exact model file, with the runtime serving it."""
        accuracy_key = "test_accuracy_flip_averaging" if self.settings.tta_flip else "test_accuracy"
        return {**self.MODEL_META_DATA, "sha256": self.sha256, "runtime": self.runtime,
                "test_accuracy": self.metrics.get(accuracy_key)}

    @property
    def ready(self) -> bool:
        """Taking requests: loaded and warmed up (done in __init__), and not shutting down."""
        return self.batcher is None or not self.batcher.closed

    def close(self) -> None:
        """Serve what the micro-batcher already holds, then stop its thread (at worker exit)."""
        if self.batcher is not None:
            self.batcher.close(timeout=self.settings.graceful_timeout)

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] → (N, 10) class probabilities: one forward pass, now."""
        record_batch(len(batch))
        return self._infer(batch)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """As predict_batch, but through the micro-batcher when it is on: concurrent requests then share a
        forward pass."""
        if self.batcher is None:
            probabilities = self.predict_batch(batch)
        else:
            probabilities = self.batcher.run(batch, timeout=self.settings.timeout)
        record_predictions(probabilities)
        return probabilities

    def classify(self, model_input: np.ndarray, top_k: int | None = None) -> list[dict]:
        """A pre-processed (28, 28) uint8 image (core.images.image_to_model_array) → its top_k predictions
        (default: the DEFAULT_TOP_K setting)."""
        probabilities = self.infer(to_model_batch(model_input))[0]
        return top_k_predictions(probabilities, self.settings.default_top_k if top_k is None else top_k)

    # MAX's MAXModelWrapper contract: predict(x) = _post_process(_predict(_pre_process(x))).
    def _pre_process(self, x: bytes) -> np.ndarray:
        return to_model_batch(image_to_model_array(x))

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.infer(x)

    def _post_process(self, x: np.ndarray) -> np.ndarray:
        return x[0]
