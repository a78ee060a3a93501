"""The pods' resources against what the service was measured to hold (`make memory-verify`,
benchmarks/results/memory.json) and what its settings let it hold: deploy/kubernetes/deployment.yaml and
deploy/kserve/inferenceservice.yaml (which tests/test_manifests.py keeps equal)."""

from __future__ import annotations

import json

import pytest

import config
from tests.test_manifests import POD_SPECS, deployment_pod_spec, only_container
from tooling.kube import manifest_env, quantity

# What the pods are sized from, measured by `make memory-verify` (benchmarks/results/memory.json): a worker with ONNX
# Runtime and the model at the end of the run, after the hostile corpus, 2 000 mixed requests and the bursts of large
# images and uploads (84–89 MiB idle, up to 121 MiB then; the image has no TensorFlow), gunicorn's master (30 MiB on
# the base image of 2026-11-30, 45 MiB on that of 2026-12-07, before and after the photo network alike), and
# how many times a request body is held while it is parsed (a 9 MiB upload cost a worker 15 MiB).
WORKER_MEMORY_MIB = 128
MASTER_MEMORY_MIB = 48
BODY_COPIES = 2
MEMORY_RESULTS = config.REPO_ROOT / "benchmarks" / "results" / "memory.json"
MIB = 2**20


def memory_bounds(container: dict) -> tuple[float, float]:
    """(steady, worst) bytes for the container's settings: its workers and master under load; and that plus, per
    worker, a full IMAGE_MEMORY_BYTES budget of images being decoded and each request thread holding a body of
    MAX_CONTENT_LENGTH (the most the settings let it hold with one request per thread)."""
    env = manifest_env(container)
    setting = lambda name: int(env.get(name.upper(), getattr(config.SETTINGS, name)))  # noqa: E731
    workers = setting("workers")
    steady = (MASTER_MEMORY_MIB + workers * WORKER_MEMORY_MIB) * MIB
    worst = steady + workers * (
        setting("image_memory_bytes") + setting("threads") * BODY_COPIES * setting("max_content_length")
    )
    return steady, worst


@pytest.mark.parametrize("manifest", POD_SPECS)
def test_resources_fit_the_worker_count(manifest):
    """Each gunicorn worker holds its own model, its images being decoded and its requests' bodies: the memory
    request covers the workers under load and the limit the most the settings let them hold, both right-sized
    (within 2x and 1.5x of that); ONNX Runtime's threads over all workers fit the CPU limit (more only thrash under
    the CPU quota)."""
    container = only_container(POD_SPECS[manifest]())
    env = manifest_env(container)
    workers = int(env.get("WORKERS", config.SETTINGS.workers))
    resources = container["resources"]
    steady, worst = memory_bounds(container)
    request, limit = quantity(resources["requests"]["memory"]), quantity(resources["limits"]["memory"])
    assert steady <= request <= 2 * steady, (steady / MIB, request / MIB)
    assert worst <= limit <= 1.5 * worst, (worst / MIB, limit / MIB)
    assert quantity(resources["limits"]["cpu"]) >= quantity(resources["requests"]["cpu"])
    assert workers * int(env["INTRA_OP_THREADS"]) <= quantity(resources["limits"]["cpu"])


def test_the_sizing_figures_are_the_measured_ones():
    """The figures above are what `make memory-verify` measured with the manifest's settings (the latest
    benchmarks/results/memory.json): no worker or master grew past them, and the manifest's own memory limit was
    run, through hostile and mixed load, without an OOM kill or a 5xx."""
    results = json.loads(MEMORY_RESULTS.read_text())
    (two_workers,) = [row for row in results["rss"]["rows"] if row["workers"] == 2]
    assert max(two_workers["end"]["workers_mib"]) <= WORKER_MEMORY_MIB
    assert two_workers["end"]["master_mib"] <= MASTER_MEMORY_MIB
    assert results["rss"]["env"] == manifest_env(only_container(deployment_pod_spec()))
    limit_run = results["limit"]
    container = only_container(deployment_pod_spec())
    assert limit_run["memory_limit"] == container["resources"]["limits"]["memory"]
    assert limit_run["env"] == manifest_env(container)
    assert limit_run["passed"] and limit_run["oom_kills"] == 0
    assert limit_run["peak_rss_mib"] * MIB < quantity(limit_run["memory_limit"])
