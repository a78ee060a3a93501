"""What the Kubernetes manifests and the kernel say about a container, in one place for every tool that asks:
`benchmarks/memory.py`, `deploy/docker/kube_helper.py` (`make kube-verify`) and the manifest tests.

Resource quantities follow Kubernetes' own notation (k8s.io/apimachinery resource.Quantity: decimal k/M/G/T,
binary Ki/Mi/Gi/Ti, milli m). Written here rather than taken from the `kubernetes` client: that package is ~40 MB
of dependencies for one parser. Needs PyYAML (the dev environment).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)")
QUANTITY_UNITS = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity ("500m", "1.5Gi", "1536Mi", "2") as a number of cores or bytes."""
    match = QUANTITY.fullmatch(str(value))
    if not match or match.group(2) not in QUANTITY_UNITS:
        raise ValueError(f"not a Kubernetes resource quantity: {value!r}")
    return float(match.group(1)) * QUANTITY_UNITS[match.group(2)]


def deployment(path: str | Path) -> dict:
    """The Deployment of a manifest file (which may hold other documents too)."""
    return next(doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc and doc["kind"] == "Deployment")


def container_of(manifest: dict) -> dict:
    """The one container of a Deployment's pod."""
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    return container


def manifest_container(path: str | Path) -> dict:
    return container_of(deployment(path))


def manifest_env(container: dict) -> dict[str, str]:
    """The container's literal environment (entries taken from elsewhere, valueFrom, are left out)."""
    return {item["name"]: str(item["value"]) for item in container.get("env", []) if "value" in item}


def cgroup_directory(pid: int, controller: str) -> tuple[str, Path | None]:
    """The process's cgroup for a controller, read on the host: ("v1", /sys/fs/cgroup/<controller>/...) where that
    controller has a v1 hierarchy, else ("v2", the unified hierarchy's directory, or None)."""
    unified = None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return "v1", CGROUP_ROOT / controller / path.lstrip("/")
        if hierarchy == "0":
            unified = CGROUP_ROOT / path.lstrip("/")
    return "v2", unified
