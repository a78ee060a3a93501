"""The gRPC checks of deploy/docker/verify.sh (`make docker-verify`) on the running container: tritonclient.grpc's
inference on samples/ (right labels) and the standard health check (SERVING). Run with the dev environment:

    python -m deploy.docker.grpc_check HOST:PORT
"""

from __future__ import annotations

import logging
import sys
import time

import grpc
import numpy as np
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc

import config
from tooling.live_server import REPO_ROOT

logger = logging.getLogger("deploy.docker.grpc_check")

SAMPLES = {"ankle-boot.png": "Ankle boot", "trouser.png": "Trouser", "ankle-boot-photo.jpg": "Ankle boot"}
TIMEOUT_S = 30


def infer_labels(address: str) -> list[str]:
    files = [(REPO_ROOT / "samples" / name).read_bytes() for name in SAMPLES]
    tensor = triton.InferInput("image_bytes", [len(files)], "BYTES")
    tensor.set_data_from_numpy(np.array(files, dtype=object))
    client = triton.InferenceServerClient(address)
    result = client.infer(config.SETTINGS.v2_model_name, [tensor], client_timeout=TIMEOUT_S)
    return [label.decode() for label in result.as_numpy("label")]


def health_status(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="    %(message)s")
    address = argv[0]
    started = time.perf_counter()
    labels = infer_labels(address)
    seconds = time.perf_counter() - started
    right = labels == list(SAMPLES.values())
    logger.info(
        "%s  gRPC ModelInfer (tritonclient.grpc) on %s: %s (%.0f ms)",
        "PASS" if right else "FAIL",
        ", ".join(SAMPLES),
        labels,
        seconds * 1000,
    )
    status = health_status(address)
    logger.info("%s  grpc.health.v1.Health/Check: %s", "PASS" if status == "SERVING" else "FAIL", status)
    return 0 if right and status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
