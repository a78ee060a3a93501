"""Helpers of deploy/docker/kube_verify.sh (`make kube-verify`), run from the repository root as
`python -m deploy.docker.kube_helper`; needs PyYAML (the dev environment).

  manifest SRC OUT IMAGE HOST_PORT   write to OUT the copy of the Deployment in SRC that podman plays: its image
                                     pointed at the locally built IMAGE, its http port published on
                                     127.0.0.1:HOST_PORT (podman 4.3's `kube play` has no --publish); nothing
                                     else changed
  expect SRC INSPECT_JSON            compare `podman inspect` of the played container (a JSON file) with what the
                                     manifest asks for: security context, read-only root, resources, env, volumes
  probes SRC BASE_URL                run the manifest's startup, readiness and liveness probes' HTTP GETs (podman
                                     cannot schedule them here: no systemd) with their timeouts; 200 expected
Each check prints PASS or FAIL; exit 1 if any fails.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tooling.kube import cgroup_directory, container_of, deployment, quantity

PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
failures = 0


def report(ok: bool, what: str, detail: str = "") -> None:
    global failures
    failures += not ok
    print(f"    {'PASS' if ok else 'FAIL'}  {what}{': ' + detail if detail else ''}", flush=True)


def write_manifest(src: str, out: str, image: str, host_port: str) -> None:
    manifest = deployment(src)
    container = container_of(manifest)
    container["image"] = image
    http = next(port for port in container["ports"] if port.get("name") == "http")
    http.update(hostPort=int(host_port), hostIP="127.0.0.1")
    Path(out).write_text(
        "# Made by deploy/docker/kube_verify.sh from deploy/kubernetes/deployment.yaml: image and "
        "hostPort only.\n" + yaml.safe_dump(manifest, sort_keys=False)
    )
    print(
        f"    played: {out}, the manifest with image: {image} and, on its {http['containerPort']} port, "
        f"hostPort: {host_port}, hostIP: 127.0.0.1"
    )


def process_status(pid: int) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """A cgroup v1 setting of the process, read on the host (the container's own view may be namespaced)."""
    version, directory = cgroup_directory(pid, controller)
    return (directory / name).read_text().strip() if version == "v1" and directory else ""


def expect(src: str, inspect_json: str) -> None:
    """What the manifest asks, as the kernel applies it to the container's PID 1 (its /proc status and cgroup, read
    on the host) and as `podman inspect` records it."""
    container = container_of(deployment(src))
    (inspected,) = json.loads(Path(inspect_json).read_text())
    host, config, pid = inspected["HostConfig"], inspected["Config"], inspected["State"]["Pid"]
    status = process_status(pid)
    security = container["securityContext"]

    user, group = str(security["runAsUser"]), str(security["runAsGroup"])
    report(
        status["Uid"].split() == [user] * 4 and status["Gid"].split() == [group] * 4,
        "runAsUser/runAsGroup",
        f"PID 1 Uid {status['Uid'].split()[0]}, Gid {status['Gid'].split()[0]}",
    )
    report(security["runAsNonRoot"] is True and user != "0", "runAsNonRoot", f"uid {user}")
    report(
        host.get("ReadonlyRootfs") is True and security["readOnlyRootFilesystem"] is True,
        "readOnlyRootFilesystem",
        f"ReadonlyRootfs={host.get('ReadonlyRootfs')} (a write is tried below)",
    )
    capabilities = {name: status[name] for name in ("CapPrm", "CapEff", "CapBnd", "CapAmb")}
    report(
        security["capabilities"] == {"drop": ["ALL"]} and set(capabilities.values()) == {"0" * 16},
        "capabilities drop ALL",
        ", ".join(f"{name} {value}" for name, value in capabilities.items()),
    )
    report(
        security["allowPrivilegeEscalation"] is False and status["NoNewPrivs"] == "1",
        "allowPrivilegeEscalation: false",
        f"NoNewPrivs {status['NoNewPrivs']}",
    )
    report(
        security["seccompProfile"] == {"type": "RuntimeDefault"} and status["Seccomp"] == "2",
        "seccompProfile RuntimeDefault",
        f"Seccomp {status['Seccomp']} (2: a filter, podman's default profile)",
    )

    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    memory = cgroup_file(pid, "memory", "memory.limit_in_bytes")
    report(
        memory == str(int(quantity(limits["memory"]))),
        "memory limit",
        f"cgroup memory.limit_in_bytes {memory} (manifest {limits['memory']})",
    )
    quota, period = cgroup_file(pid, "cpu", "cpu.cfs_quota_us"), cgroup_file(pid, "cpu", "cpu.cfs_period_us")
    report(
        int(quota) == round(quantity(limits["cpu"]) * int(period)),
        "cpu limit",
        f"cgroup cpu.cfs_quota_us {quota} per cpu.cfs_period_us {period} (manifest {limits['cpu']})",
    )
    soft = cgroup_file(pid, "memory", "memory.soft_limit_in_bytes")
    report(
        soft == str(int(quantity(requests["memory"]))),
        "memory request",
        f"cgroup memory.soft_limit_in_bytes {soft} (manifest {requests['memory']}; for Kubernetes a scheduling figure)",
    )
    print(
        f"    note  cpu request {requests['cpu']}: a scheduling figure for Kubernetes; podman 4.3 leaves cpu.shares "
        f"at its default ({cgroup_file(pid, 'cpu', 'cpu.shares')})",
        flush=True,
    )

    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    wanted = {item["name"]: str(item["value"]) for item in container.get("env", [])}
    missing = {name: value for name, value in wanted.items() if env.get(name) != value}
    report(
        not missing,
        "env",
        f"{', '.join(f'{k}={v}' for k, v in wanted.items())}" if not missing else f"differ: {missing}",
    )

    mounts = {mount["Destination"]: mount for mount in inspected.get("Mounts") or []}
    for mount in container.get("volumeMounts", []):
        found = mounts.get(mount["mountPath"])
        report(
            found is not None and found.get("RW", True),
            f"volume {mount['name']} on {mount['mountPath']}",
            f"a podman {found.get('Type')} ({found.get('Name') or found.get('Source')}), writable"
            if found
            else "not mounted",
        )


def probes(src: str, base_url: str) -> None:
    container = container_of(deployment(src))
    for name in PROBES:
        get = container[name]["httpGet"]
        timeout = container[name].get("timeoutSeconds", 1)
        try:
            with urllib.request.urlopen(f"{base_url}{get['path']}", timeout=timeout) as response:  # noqa: S310
                status, body = response.status, response.read()[:100].decode().strip()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()[:100].decode().strip()
        except OSError as error:
            status, body = 0, str(error)
        report(status == 200, f"{name}: GET {get['path']} within {timeout} s", f"HTTP {status} {body}")


def main() -> None:
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    commands = {"manifest": (write_manifest, 4), "expect": (expect, 2), "probes": (probes, 2)}
    if command not in commands or len(args) != commands[command][1]:
        sys.exit(__doc__)
    commands[command][0](*args)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
