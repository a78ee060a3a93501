"""The batch part of `make bench`: images/s for batches of 64 Fashion-MNIST-sized images through gRPC
(tritonclient.grpc), through HTTP V2 with binary tensors (tritonclient.http) and through the model in-process
(ModelWrapper.predict_batch on ONNX Runtime, one thread per worker with one core each, as the workers run it), and
single-image p50 at concurrency 1 over gRPC and HTTP V2; measured one after the other, in one run, against the same
server (`ours`).

Targets (benchmarks/figures.py runs them with the others):
(f) gRPC batch-64 images/s at least 0.9× in-process ONNX Runtime's;
(g) gRPC batch-64 images/s at least HTTP V2 binary's;
(h) gRPC single-image p50 at concurrency 1 at most HTTP V2's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

import config
from benchmarks.figures import percentile
from tooling.live_server import REPO_ROOT

logger = logging.getLogger("benchmarks.batch")

BATCH = 64
CLIENT_THREADS = 4  # tritonclient from four threads drives two cores (../shared/notes/grpc-inference-protocol.md)
SINGLE_CALLS = 500
WARMUP_CALLS = 20
MODEL = config.SETTINGS.v2_model_name
# gRPC channels to one address share one connection in a process unless told otherwise; the kernel spreads
# connections, not calls, over the workers (SO_REUSEPORT), so each client thread opens its own, as HTTP's do.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@dataclass(frozen=True)
class BatchFigures:
    """What the batch part measured (images/s, p50 in ms)."""

    batch: int
    seconds: float
    in_process_images_s: float
    http_v2_images_s: float
    grpc_images_s: float
    http_v2_p50_ms: float
    grpc_p50_ms: float


def sample_batch(size: int = BATCH) -> np.ndarray:
    """(size, 28, 28) uint8: the ten class samples, repeated."""
    paths = sorted((REPO_ROOT / "samples").glob("*.png"))
    images = [np.asarray(Image.open(path).convert("L"), dtype=np.uint8) for path in paths]
    images = [image for image in images if image.shape == (28, 28)]
    return np.stack([images[index % len(images)] for index in range(size)])


def images_per_second(call: Callable[[], None], threads: int, seconds: float, batch: int) -> float:
    """Batches completed by `threads` threads each calling `call` in a loop for `seconds`, as images/s."""
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(slot: int) -> None:
        while time.perf_counter() < deadline:
            call()
            done[slot] += 1

    workers = [threading.Thread(target=loop, args=(slot,)) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) * batch / (time.perf_counter() - started)


def p50_ms(call: Callable[[], None], calls: int) -> float:
    for _ in range(WARMUP_CALLS):
        call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def grpc_call(address: str, images: np.ndarray) -> Callable[[], None]:
    import tritonclient.grpc as triton

    local = threading.local()
    tensor = triton.InferInput("image", list(images.shape), "UINT8")
    tensor.set_data_from_numpy(images)

    def call() -> None:
        if not hasattr(local, "client"):
            local.client = triton.InferenceServerClient(address, channel_args=OWN_CONNECTION)
        local.client.infer(MODEL, [tensor], outputs=[triton.InferRequestedOutput("probabilities")])

    return call


def http_v2_call(base_url: str, images: np.ndarray) -> Callable[[], None]:
    import tritonclient.http as triton

    local = threading.local()
    tensor = triton.InferInput("image", list(images.shape), "UINT8")
    tensor.set_data_from_numpy(images, binary_data=True)
    outputs = [triton.InferRequestedOutput("probabilities", binary_data=True)]

    def call() -> None:
        if not hasattr(local, "client"):
            local.client = triton.InferenceServerClient(base_url.removeprefix("http://"))
        local.client.infer(MODEL, [tensor], outputs=outputs)

    return call


def in_process_call(images: np.ndarray) -> Callable[[], None]:
    """The forward pass alone, as a worker's runtime runs it (one intra-op thread), no queue."""
    from core.model import ModelWrapper, to_model_batch

    model = ModelWrapper(config.SETTINGS.replace(intra_op_threads=1, max_batch_size=1))
    batch = to_model_batch(images)
    return lambda: model.predict_batch(batch)


def measure_batches(base_url: str, grpc_address: str, workers: int, seconds: float) -> BatchFigures:
    """Each path for `seconds` (batch 64), then single images at concurrency 1; logged as it goes."""
    images, single = sample_batch(), sample_batch(1)
    figures = {}
    for name, call, threads in (
        ("in_process_images_s", in_process_call(images), workers),
        ("http_v2_images_s", http_v2_call(base_url, images), CLIENT_THREADS),
        ("grpc_images_s", grpc_call(grpc_address, images), CLIENT_THREADS),
    ):
        call()  # warm: connections, first-call costs
        figures[name] = images_per_second(call, threads, seconds, BATCH)
        logger.info("batch %d, %s: %.0f images/s", BATCH, name.removesuffix("_images_s"), figures[name])
    for name, call in (
        ("http_v2_p50_ms", http_v2_call(base_url, single)),
        ("grpc_p50_ms", grpc_call(grpc_address, single)),
    ):
        figures[name] = p50_ms(call, SINGLE_CALLS)
        logger.info("single image, c=1, %s: p50 %.2f ms", name.removesuffix("_p50_ms"), figures[name])
    return BatchFigures(BATCH, seconds, **figures)
