"""The served model: verified, loaded once, traced once, then called for every request.

Two networks: the 28×28 one sees every upload; the photo network also sees a photo's 64×64 colour garment
crop (core/photo_crop.py), and a photo's answer is the weighted geometric mean of the two networks' outputs.
Each network has eleven outputs: the ten classes and "none of the ten". An answer is the ten classes'
probabilities (renormalised without the eleventh) and the none-of-the-ten score, p(none) (Answers).
A request follows MAX's MAXModelWrapper contract (KServe's preprocess → predict → postprocess):
ModelWrapper.predict(upload bytes) = _post_process(_predict(_pre_process(x))).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np
from maxfw.model import MAXModelWrapper

import config
from config import SETTINGS, Settings
from core.batching import MicroBatcher
from core.checksum import verify_checksum
from core.images import (
    MODEL_SIDE,
    ModelInputs,
    image_to_model_inputs,
    model_input_png,
    set_image_memory,
    set_pixel_limit,
)
from core.labels import CLASS_NAMES, NONE_OUTPUT
from core.model_figures import read_model_metrics, served_figures
from core.photo_crop import PHOTO_CHANNELS, PHOTO_SIDE
from core.runtimes import MODEL_INPUT_SHAPE, Runtime, choose_runtime, load_runtime
from core.telemetry import record_batch, record_model_load, record_predictions

logger = logging.getLogger(__name__)


def to_model_batch(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 → (N, 28, 28, 1) float32 in [0, 1], the scaling used in training."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(-1, MODEL_SIDE, MODEL_SIDE, 1)


PHOTO_INPUT_SHAPE = (PHOTO_SIDE, PHOTO_SIDE, PHOTO_CHANNELS)
# Keeps log(p) finite where a network gives a class exactly 0 (float32's smallest normal is 1.2e-38).
LOG_FLOOR = 1e-30


def to_photo_batch(crops: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 3) uint8 colour crops → float32 in [0, 1], the scaling used in training."""
    return (np.asarray(crops, dtype=np.float32) / 255.0).reshape(-1, *PHOTO_INPUT_SHAPE)


def geometric_mean(first: np.ndarray, second: np.ndarray, second_weight: float) -> np.ndarray:
    """Row-wise weighted geometric mean of two (N, K) probability arrays, renormalised to sum to 1: a class
    both networks find likely wins over one that only one network is sure of."""
    logs = (1.0 - second_weight) * np.log(np.maximum(first, LOG_FLOOR)) + second_weight * np.log(
        np.maximum(second, LOG_FLOOR)
    )
    combined = np.exp(logs - logs.max(axis=1, keepdims=True))
    return (combined / combined.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Answers:
    """The answers for N uploads: the ten classes' probabilities (N, 10), each row summing to 1, and the
    none-of-the-ten score (N,) in [0, 1], higher where the picture is more likely none of the ten classes."""

    probabilities: np.ndarray
    none_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.probabilities)

    def flagged(self, threshold: float) -> np.ndarray:
        """(N,) bool: the uploads whose score reaches the threshold (the NONE_OF_THE_TEN_THRESHOLD setting)."""
        return self.none_scores >= threshold


def split_outputs(outputs: np.ndarray) -> Answers:
    """(N, 11) network outputs → Answers: the ten classes renormalised without p(none), and p(none) as the
    score. A class ranking is the network's own; the eleventh output is never a class."""
    outputs = np.asarray(outputs, dtype=np.float32)
    ten = outputs[:, :NONE_OUTPUT]
    probabilities = ten / np.maximum(ten.sum(axis=1, keepdims=True), LOG_FLOOR)
    return Answers(probabilities.astype(np.float32), outputs[:, NONE_OUTPUT].copy())


def combine_networks(
    outputs: np.ndarray, photo_outputs: np.ndarray, class_weight: float, none_weight: float
) -> Answers:
    """A photo's answers from both networks' (N, 11) outputs: the classes from their geometric mean with the photo
    network weighted `class_weight`, the none-of-the-ten score from the one weighted `none_weight`. Each weight
    is the one that did its own job best on the validation senders (training/README.md)."""
    classes = split_outputs(geometric_mean(outputs, photo_outputs, class_weight))
    if none_weight == class_weight:
        return classes
    scores = split_outputs(geometric_mean(outputs, photo_outputs, none_weight)).none_scores
    return Answers(classes.probabilities, scores)


PNG_DATA_URL_PREFIX = "data:image/png;base64,"


def top_k_predictions(probabilities: np.ndarray, top_k: int) -> list[dict]:
    """The k most likely classes of one image, most likely first, in the API's record shape."""
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    return [
        {"prediction": int(i), "label_id": int(i), "label": CLASS_NAMES[i], "probability": float(probabilities[i])}
        for i in order
    ]


class ModelWrapper(MAXModelWrapper):
    """Checks the model's sha256, then serves it through ONNX Runtime or TensorFlow (core/runtimes.py).

    A request's way in is predict(upload bytes), MAX's contract: preprocess (core/images.py), infer_inputs
    (both networks through their micro-batchers, shared with concurrent requests) and postprocess (the API's
    records). Below it: infer for ready 28×28 tensors (V2's 'image') and predict_batch (one forward pass now, no
    queue: the evaluation's).
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
        self.runtime, export = choose_runtime(
            settings.inference_runtime,
            settings.onnx_model_path,
            settings.onnx_model_sha256_path,
            self.sha256,
            settings.intra_op_threads,
            settings.inter_op_threads,
        )
        self.onnx_sha256 = export.sha256 if export else None
        self._infer = load_runtime(
            settings.model_path, export, settings.intra_op_threads, settings.inter_op_threads, settings.tta_flip
        )
        self.photo_sha256, self._infer_photo = self._load_photo_network(settings)
        self.metrics = served_figures(
            read_model_metrics(settings.model_metrics_path, self.sha256), self.runtime, self.onnx_sha256
        )
        self.batcher = self.photo_batcher = None
        if settings.max_batch_size > 1:
            self.batcher = MicroBatcher(
                self.predict_batch, settings.max_batch_size, settings.max_batch_delay_ms, MODEL_INPUT_SHAPE
            )
            if self._infer_photo is not None:
                self.photo_batcher = MicroBatcher(
                    self.predict_photo_batch, settings.max_batch_size, settings.max_batch_delay_ms, PHOTO_INPUT_SHAPE
                )
        # Each network's way in for a request: its micro-batcher when batching is on, else a forward pass now.
        self._forward = self._through(self.batcher, self.predict_batch)
        self._forward_photo = self._through(self.photo_batcher, self.predict_photo_batch)
        self.load_seconds = time.perf_counter() - started
        record_model_load(self.load_seconds)
        logger.info(
            "model %s loaded with %s and warmed up in %.2f s (sha256 %s; photo network %s)",
            settings.model_path,
            self.runtime,
            self.load_seconds,
            self.sha256,
            self.photo_sha256 or "off",
        )

    def _through(self, batcher: MicroBatcher | None, forward: Runtime) -> Runtime:
        """A bound call, not a wrapper function: one frame less on every request's path (tooling/request_path.py)."""
        return forward if batcher is None else partial(batcher.run, timeout=self.settings.timeout)

    @staticmethod
    def _load_photo_network(settings: Settings) -> tuple[str | None, Runtime | None]:
        """The photo network's sha256 and runtime (chosen as for the 28×28 network), or (None, None) when the
        PHOTO_NETWORK setting is off."""
        if not settings.photo_network:
            return None, None
        sha256 = verify_checksum(settings.photo_model_path, settings.photo_model_sha256_path)
        _, export = choose_runtime(
            settings.inference_runtime,
            settings.photo_onnx_model_path,
            settings.photo_onnx_model_sha256_path,
            sha256,
            settings.intra_op_threads,
            settings.inter_op_threads,
        )
        return sha256, load_runtime(
            settings.photo_model_path,
            export,
            settings.intra_op_threads,
            settings.inter_op_threads,
            settings.tta_flip,
            PHOTO_INPUT_SHAPE,
        )

    @property
    def metadata(self) -> dict:
        """MAX metadata plus what was measured about this exact model file, with the runtime serving it."""
        accuracy_key = "test_accuracy_flip_averaging" if self.settings.tta_flip else "test_accuracy"
        return {
            **self.MODEL_META_DATA,
            "sha256": self.sha256,
            "runtime": self.runtime,
            "test_accuracy": self.metrics.get(accuracy_key),
            "photo_network_sha256": self.photo_sha256,
            "none_of_the_ten_threshold": self.settings.none_of_the_ten_threshold,
        }

    @property
    def ready(self) -> bool:
        """Taking requests: loaded and warmed up (done in __init__), and not shutting down."""
        return self.batcher is None or not self.batcher.closed

    @property
    def photo_network(self) -> bool:
        """Whether photos are also shown to the photo network."""
        return self._infer_photo is not None

    def close(self) -> None:
        """Serve what the micro-batchers already hold, then stop their threads (at worker exit)."""
        for batcher in (self.batcher, self.photo_batcher):
            if batcher is not None:
                batcher.close(timeout=self.settings.graceful_timeout)

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] → (N, 11) outputs of the 28×28 network (ten classes, then none of
        the ten): one forward pass, now."""
        record_batch(len(batch))
        return self._infer(batch)

    def predict_photo_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 3) float32 in [0, 1] → (N, 11) outputs of the photo network: one forward pass, now."""
        if self._infer_photo is None:
            raise RuntimeError("the photo network is off (PHOTO_NETWORK=false)")
        record_batch(len(batch))
        return self._infer_photo(batch)

    def infer(self, batch: np.ndarray) -> Answers:
        """The answers for (N, 28, 28, 1) tensors, through the micro-batcher when it is on: concurrent requests
        then share a forward pass."""
        return self._record(split_outputs(self._forward(batch)))

    def infer_inputs(self, inputs: Sequence[ModelInputs]) -> Answers:
        """The answers for pre-processed uploads (core.images.image_to_model_inputs): the 28×28 network's, and
        for each photo both networks' combined (combine_networks). Both networks run through their
        micro-batchers."""
        outputs = np.asarray(self._forward(to_model_batch(np.stack([item.array for item in inputs]))))
        answers = split_outputs(outputs)
        photo_rows = [(index, item.photo) for index, item in enumerate(inputs) if item.photo is not None]
        if photo_rows and self._infer_photo is not None:
            photos = [index for index, _ in photo_rows]
            crops = to_photo_batch(np.stack([photo for _, photo in photo_rows]))
            combined = combine_networks(
                outputs[photos],
                self._forward_photo(crops),
                self.settings.photo_network_weight,
                self.settings.none_of_the_ten_photo_weight,
            )
            answers.probabilities[photos], answers.none_scores[photos] = combined.probabilities, combined.none_scores
        return self._record(answers)

    def _record(self, answers: Answers) -> Answers:
        record_predictions(answers.probabilities, answers.flagged(self.settings.none_of_the_ten_threshold))
        return answers

    def none_of_the_ten(self, score: float) -> dict:
        """The API's record of one upload's score: {"score": ..., "flagged": score >= the threshold}."""
        return {"score": float(score), "flagged": bool(score >= self.settings.none_of_the_ten_threshold)}

    # The request path. MAX's MAXModelWrapper contract, predict(x) = _post_process(_predict(_pre_process(x))), is
    # KServe's preprocess → predict → postprocess: /model/predict (and the demo page, its client) hands predict()
    # the upload's bytes; V2's image_bytes and the CLI call the three stages themselves, on a batch.
    def predict(self, x: bytes, top_k: int | None = None, debug: bool = False) -> dict:
        """One uploaded file → the answer /model/predict gives: its top_k predictions (default: the DEFAULT_TOP_K
        setting), its none-of-the-ten record and, with `debug`, what the networks were shown.
        InvalidImageError when the file cannot be read as an image."""
        inputs = self.preprocess(x)
        answer = self.postprocess(self.infer_inputs([inputs]), top_k)[0]
        return {**answer, **shown_to_networks(inputs)} if debug else answer

    def preprocess(self, upload: bytes) -> ModelInputs:
        """One uploaded file → what the networks are shown (core/images.py); the colour crop only when the photo
        network is on. InvalidImageError when the file cannot be read as an image."""
        return image_to_model_inputs(upload, photo_crop=self.photo_network)

    def postprocess(self, answers: Answers, top_k: int | None = None) -> list[dict]:
        """Each upload's record as the API gives it: its top_k predictions (default: the DEFAULT_TOP_K setting)
        and its none-of-the-ten record."""
        top_k = self.settings.default_top_k if top_k is None else top_k
        return [
            {"predictions": top_k_predictions(probabilities, top_k), "none_of_the_ten": self.none_of_the_ten(score)}
            for probabilities, score in zip(answers.probabilities, answers.none_scores, strict=True)
        ]

    # MAX's names for the three stages, for one upload: MAXModelWrapper.predict(self, x) gives [predict(x)].
    def _pre_process(self, x: bytes) -> list[ModelInputs]:
        return [self.preprocess(x)]

    _predict = infer_inputs

    def _post_process(self, x: Answers) -> list[dict]:
        return self.postprocess(x)


def png_data_url(png: bytes) -> str:
    """A data URL shows in a browser or an <img> tag as it is."""
    return PNG_DATA_URL_PREFIX + base64.b64encode(png).decode("ascii")


def shown_to_networks(inputs: ModelInputs) -> dict:
    """The debug part of an answer: the 28×28 array (model_input) and, for a photo, the colour crop the photo
    network was shown (photo_input), as PNG data URLs."""
    shown = {"model_input": png_data_url(model_input_png(inputs.array))}
    if inputs.photo is not None:
        shown["photo_input"] = png_data_url(model_input_png(inputs.photo))
    return shown
