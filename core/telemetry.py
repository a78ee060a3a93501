"""Prometheus metrics of the model itself: load time, batch sizes, predictions per class, answers flagged as none of
the ten.

Under gunicorn each worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py before
the workers start) and /metrics merges them; in a single process they live in the default registry.
Names follow Prometheus conventions: a `fashion_mnist_` prefix, base units (seconds), `_total` counters.
"""

from __future__ import annotations

import functools

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from core.labels import CLASS_NAMES, NUM_CLASSES

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

MODEL_LOAD_SECONDS = Gauge(
    "fashion_mnist_model_load_seconds",
    "Time to verify, load and warm up the model, per worker",
    multiprocess_mode="max",
)
INFERENCE_BATCH_SIZE = Histogram(
    "fashion_mnist_inference_batch_size",
    "Images per forward pass of the model (micro-batches included)",
    buckets=BATCH_SIZE_BUCKETS,
)
PREDICTIONS = Counter("fashion_mnist_predictions", "Images classified, by predicted class", ["label"])
NONE_OF_THE_TEN = Counter(
    "fashion_mnist_none_of_the_ten", "Images whose none-of-the-ten score reached NONE_OF_THE_TEN_THRESHOLD"
)


def record_model_load(seconds: float) -> None:
    MODEL_LOAD_SECONDS.set(seconds)


def record_batch(size: int) -> None:
    INFERENCE_BATCH_SIZE.observe(size)


def record_predictions(probabilities: np.ndarray, flagged: np.ndarray) -> None:
    """Counts each row's most likely class, and the rows flagged as none of the ten."""
    counts = np.bincount(np.asarray(probabilities).argmax(axis=1), minlength=NUM_CLASSES)
    for class_id in np.flatnonzero(counts):
        _predictions_of(int(class_id)).inc(int(counts[class_id]))
    if count := int(np.count_nonzero(flagged)):
        NONE_OF_THE_TEN.inc(count)


@functools.cache
def _predictions_of(class_id: int) -> Counter:
    """The class's labelled counter, looked up once per worker (labels() costs a lock and a dict per call)."""
    return PREDICTIONS.labels(label=CLASS_NAMES[class_id])
