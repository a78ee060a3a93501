"""How long the served model takes per call: batch 1 (one request) and batch 64 (a micro-batched burst).

Times ModelWrapper.predict_batch(to_model_batch(images)), the very call the server makes once an upload is
decoded, so the figures are the model's share of a request and nothing else.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

import config
from core.images import ModelInputs
from core.model import to_model_batch

if TYPE_CHECKING:
    from core.model import ModelWrapper

DECIMALS = 4
LATENCY_BATCH = 64  # the "batch 64" of the latency figures and targets
REPEATS_BATCH_1 = 300
REPEATS_BATCH_64 = 50
WARMUP_CALLS = 10


def measure_latency(
    wrapper: ModelWrapper, images: np.ndarray, batch_size: int, repeats: int, warmup: int = WARMUP_CALLS
) -> dict:
    """Median and p90 wall time per call and per image, after warm-up calls.

    Median and p90 rather than the mean, so one descheduled call does not move the figure.
    """
    if not 1 <= batch_size <= len(images) or repeats < 1:
        raise ValueError(f"batch_size {batch_size} and repeats {repeats} for {len(images)} images")
    span = len(images) - batch_size + 1
    timings = []
    for call in range(warmup + repeats):
        start = (call * batch_size) % span  # a different slice each call, like successive requests
        batch = images[start : start + batch_size]
        began = time.perf_counter()
        wrapper.predict_batch(to_model_batch(batch))
        if call >= warmup:
            timings.append(time.perf_counter() - began)
    per_call = np.asarray(timings) * 1000.0
    median, p90 = float(np.median(per_call)), float(np.percentile(per_call, 90))
    return {
        "batch_size": batch_size,
        "repeats": repeats,
        "median_ms_per_call": round(median, DECIMALS),
        "p90_ms_per_call": round(p90, DECIMALS),
        "median_ms_per_image": round(median / batch_size, DECIMALS),
        "p90_ms_per_image": round(p90 / batch_size, DECIMALS),
    }


def serving_latency(wrapper: ModelWrapper, images: np.ndarray) -> dict:
    """The latency_ms figures: batch 1 per call, batch 64 per image, and the settings they depend on."""
    one = measure_latency(wrapper, images, 1, REPEATS_BATCH_1)
    many = measure_latency(wrapper, images, LATENCY_BATCH, REPEATS_BATCH_64)
    return {
        "batch_1": one["median_ms_per_call"],
        "batch_1_p90": one["p90_ms_per_call"],
        "batch_64_per_image": many["median_ms_per_image"],
        "batch_64_per_image_p90": many["p90_ms_per_image"],
        "repeats_batch_1": REPEATS_BATCH_1,
        "repeats_batch_64": REPEATS_BATCH_64,
        "warmup_calls": WARMUP_CALLS,
        "intra_op_threads": config.SETTINGS.intra_op_threads,
        "inter_op_threads": config.SETTINGS.inter_op_threads,
        "cpu_count": os.cpu_count(),
    }


def photo_latency(wrapper: ModelWrapper, arrays: np.ndarray, crops: np.ndarray, repeats: int = REPEATS_BATCH_1) -> dict:
    """One photo's model time, both networks and their geometric mean (ModelWrapper.infer_inputs on one
    upload's inputs, as /model/predict calls it): median and p90 ms per call."""
    if not wrapper.photo_network or not len(arrays):
        return {}
    timings = []
    for call in range(WARMUP_CALLS + repeats):
        index = call % len(arrays)
        began = time.perf_counter()
        wrapper.infer_inputs([ModelInputs(arrays[index], crops[index])])
        if call >= WARMUP_CALLS:
            timings.append(time.perf_counter() - began)
    per_call = np.asarray(timings) * 1000.0
    return {
        "photo_batch_1": round(float(np.median(per_call)), DECIMALS),
        "photo_batch_1_p90": round(float(np.percentile(per_call, 90)), DECIMALS),
        "repeats_photo": repeats,
    }
