"""What gRPC costs a worker in memory: the same server (`make run`'s gunicorn, one worker, MALLOC_ARENA_MAX=2 as the
manifests set it) with GRPC_PORT=0 and with gRPC on, each after 50 photo predictions (and, with gRPC, 50 gRPC
calls), alternated ROUNDS times; the worker's RSS, USS (memory no other process shares) and PSS, and its threads.

Usage: python -m benchmarks.grpc_memory [--rounds 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import requests
import tritonclient.grpc as triton

import config
from tooling.live_server import (
    REPO_ROOT,
    free_port,
    start_server,
    stop_server,
    wait_for_workers,
    wait_until_serving,
)
from tooling.processes import BYTES_PER_MB, descendant_pids

logger = logging.getLogger("benchmarks.grpc_memory")

CALLS = 50
PHOTO = REPO_ROOT / "samples" / "sneaker-photo.jpg"
ENV = {"WORKERS": "1", "MALLOC_ARENA_MAX": "2"}


def exercise(port: int, grpc_port: int) -> None:
    body = PHOTO.read_bytes()
    for _ in range(CALLS):
        requests.post(f"http://127.0.0.1:{port}/model/predict", files={"image": body}, timeout=30).raise_for_status()
    if grpc_port:
        client = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        tensor = triton.InferInput("image_bytes", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([body], dtype=object))
        for _ in range(CALLS):
            client.infer(config.SETTINGS.v2_model_name, [tensor])


def worker_memory(grpc_on: bool) -> dict[str, float]:
    port, grpc_port = free_port(), (free_port() if grpc_on else 0)
    log_path = Path(tempfile.mkdtemp(prefix="grpc-memory-")) / "gunicorn.log"
    process = start_server(port, log_path, ENV, grpc_port=grpc_port)
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}", log_path)
        wait_for_workers(log_path, 1)
        exercise(port, grpc_port)
        time.sleep(1)
        (worker,) = descendant_pids(process.pid)
        info = psutil.Process(worker).memory_full_info()
        threads = psutil.Process(worker).num_threads()
    finally:
        stop_server(process)
    return {
        "rss": info.rss / BYTES_PER_MB,
        "uss": info.uss / BYTES_PER_MB,
        "pss": info.pss / BYTES_PER_MB,
        "threads": float(threads),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for round_number in range(1, args.rounds + 1):
        off, on = worker_memory(False), worker_memory(True)
        logger.info(
            "round %d: worker MiB off → on: %s",
            round_number,
            ", ".join(f"{key} {off[key]:.1f} → {on[key]:.1f} ({on[key] - off[key]:+.1f})" for key in off),
        )


if __name__ == "__main__":
    main()
