"""The service's memory in its container, measured from the host: what deploy/kubernetes sizes its pods from
(`make memory-verify`, part of `make docker-verify`, which configure podman and build the image first).

  rss    for each worker count (WORKERS=1, 2, 4; the manifest's other settings): the resident memory of gunicorn's
         master and workers idle, after the hostile-input corpus, and at its peak during the corpus, 2 000 mixed
         requests at concurrency 16 (benchmarks.stress's mix: predict, V2 infer, metadata) and 32 of the corpus's
         40-megapixel images at concurrency 16; plus the container's cgroup peak (page cache and /tmp included).
  limit  the manifest's container as Kubernetes runs it: its env, its memory and CPU limits (podman run --memory
         --cpus), read-only root. The corpus, then 2 000 mixed requests at concurrency 16 of which every 16th is a
         40-megapixel image, then 32 of those at concurrency 16. Passes when nothing was OOM-killed (the cgroup's
         oom_kill count, the workers' pids, gunicorn's log, the container's state), no request got a 5xx or no
         answer, and every normal prediction was right.

RSS is summed over the container's process tree (tooling.processes) every 50 ms; MiB throughout. Writes
benchmarks/results/memory.json (--output); exits 1 if the limit run fails.

Usage: python -m benchmarks.memory rss|limit --image IMAGE --corpus DIR [--workers 1,2,4] [--requests 2000]
           [--concurrency 16] [--manifest deploy/kubernetes/deployment.yaml] [--env NAME=VALUE]
(the corpus: python -m tests.hostile.make_corpus DIR; podman configured through CONTAINERS_CONF as verify.sh does)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests
from PIL import Image

import config
from benchmarks.stress import Load
from tooling.kube import cgroup_directory, manifest_container, manifest_env, quantity
from tooling.live_server import REPO_ROOT, free_port
from tooling.processes import BYTES_PER_MB, descendant_pids, rss_mb

DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "memory.json"
DEFAULT_MANIFEST = REPO_ROOT / "deploy" / "kubernetes" / "deployment.yaml"
# How the container runs, as in Kubernetes (deploy/kubernetes/deployment.yaml's securityContext and /tmp volume).
SECURE_RUN = (
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp:rw,mode=1777,size=512m",  # noqa: S108
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
)
CONTAINER_PORT = 5000
READY_TIMEOUT_S = 180
POLL_S = 0.05
FLOOD_MARK = "flood"  # the corpus's files of nearly MAX_IMAGE_PIXELS pixels: rgba-flood-..., gray16-flood-...
FLOOD_BURST = 32
# A photo-like upload just under MAX_CONTENT_LENGTH (10 MiB): noise does not compress, so its body is as large as
# its pixels; it stays under core.admission's SMALL_IMAGE_BYTES, so only the bodies bound the memory it takes.
UPLOAD_SIDE = 1770
REQUEST_TIMEOUT_S = 120
KILLED_WORKER_MARKS = ("SIGKILL", "out of memory", "Worker failed to boot")


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603, S607


@dataclass(frozen=True)
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name)

    def master(self) -> int:
        return int(self.inspect("{{.State.Pid}}"))

    def logs(self) -> str:
        return subprocess.run(  # noqa: S603
            ["podman", "logs", self.name],  # noqa: S607
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        ).stdout


def cgroup_figures(pid: int) -> dict:
    """The cgroup's memory limit and peak usage (MiB) and how many processes its OOM killer ended."""
    version, directory = cgroup_directory(pid, "memory")

    def read(name: str) -> str:
        return (directory / name).read_text()

    def counter(text: str, key: str) -> int:
        return int(next((line.split()[1] for line in text.splitlines() if line.startswith(key + " ")), 0))

    if version == "v1":
        peak, limit = int(read("memory.max_usage_in_bytes")), int(read("memory.limit_in_bytes"))
        oom_kills = counter(read("memory.oom_control"), "oom_kill")
    else:
        peak = int(read("memory.peak")) if (directory / "memory.peak").exists() else 0
        limit_text = read("memory.max").strip()
        limit = 0 if limit_text == "max" else int(limit_text)
        oom_kills = counter(read("memory.events"), "oom_kill")
    unlimited = limit == 0 or limit >= 2**60
    return {
        "cgroup": version,
        "peak_mib": round(peak / BYTES_PER_MB, 1),
        "limit_mib": None if unlimited else round(limit / BYTES_PER_MB, 1),
        "oom_kills": oom_kills,
    }


def snapshot(master: int) -> dict:
    workers = descendant_pids(master)
    return {
        "total_mib": round(rss_mb([master, *workers]), 1),
        "master_mib": round(rss_mb([master]), 1),
        "workers_mib": [round(rss_mb([pid]), 1) for pid in workers],
    }


class PeakRss:
    """The highest summed RSS of the process tree, sampled every POLL_S while the block runs."""

    def __init__(self, master: int) -> None:
        self.master, self.peak_mib, self._stop = master, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, rss_mb([self.master, *descendant_pids(self.master)]))
            self._stop.wait(POLL_S)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = round(self.peak_mib, 1)


@contextmanager
def container(
    image: str, env: dict[str, str], memory: str | None = None, cpus: str | None = None, workers: int = 1
) -> Iterator[Container]:
    """The image running detached on a free localhost port, once every worker has loaded the model."""
    box = Container(f"max-fashion-mnist-memory-{free_port()}", free_port())
    command = [
        "run",
        "--detach",
        "--name",
        box.name,
        "--publish",
        f"127.0.0.1:{box.port}:{CONTAINER_PORT}",
        *SECURE_RUN,
    ]
    for name, value in env.items():
        command += ["--env", f"{name}={value}"]
    if memory:
        command += ["--memory", memory, "--memory-swap", memory]  # no swap: it would hide the limit
    if cpus:
        command += ["--cpus", cpus]
    podman(*command, image)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while box.logs().count("warmed up") < workers:
            if time.monotonic() > deadline or box.inspect("{{.State.Running}}") != "true":
                raise RuntimeError(f"{box.name} did not start:\n{box.logs()[-3000:]}")
            time.sleep(0.2)
        requests.get(f"{box.url}/v2/health/ready", timeout=10).raise_for_status()
        time.sleep(1)  # the workers settle after their warm-up
        yield box
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "5", box.name], capture_output=True, check=False)  # noqa: S603, S607


def post_file(url: str, path: Path, session: requests.Session | None = None) -> int:
    try:
        response = (session or requests).post(
            f"{url}/model/predict", files={"image": (path.name, path.read_bytes())}, timeout=REQUEST_TIMEOUT_S
        )
    except requests.RequestException:
        return 0
    return response.status_code


def send_corpus(url: str, corpus: list[Path]) -> dict[str, int]:
    return {path.name: post_file(url, path) for path in corpus}


def run_requests(total: int, concurrency: int, one: Callable[[int], int]) -> Counter:
    with ThreadPoolExecutor(concurrency) as pool:
        return Counter(str(status) for status in pool.map(one, range(total)))


def mixed(url: str, total: int, concurrency: int, floods: list[Path], flood_every: int = 0) -> Counter:
    """benchmarks.stress's mix of requests (status 200 when answered right, minus the status when answered wrong,
    0 when not answered); every flood_every-th request one of the 40-megapixel images instead."""
    load = Load(url, config.SETTINGS)

    def one(index: int) -> int:
        if flood_every and index % flood_every == flood_every - 1:
            return post_file(url, floods[(index // flood_every) % len(floods)], load.session())
        try:
            return load.send(("predict", "v2", "predict", "metadata")[index % 4])
        except requests.RequestException:
            return 0

    return run_requests(total, concurrency, one)


def flood_burst(url: str, floods: list[Path], concurrency: int) -> Counter:
    return run_requests(FLOOD_BURST, concurrency, lambda index: post_file(url, floods[index % len(floods)]))


def large_upload(directory: Path) -> Path:
    """A noise PNG of UPLOAD_SIDE² RGB pixels (~9 MiB), written once into the corpus's folder."""
    path = directory.parent / f"{directory.name}-upload-{UPLOAD_SIDE}.png"
    if not path.exists():
        pixels = np.random.default_rng(18).integers(0, 256, (UPLOAD_SIDE, UPLOAD_SIDE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, format="PNG", compress_level=1)
    return path


def upload_burst(url: str, upload: Path, concurrency: int) -> Counter:
    return run_requests(FLOOD_BURST, concurrency, lambda index: post_file(url, upload))


def statuses_ok(statuses: Counter) -> bool:
    """No 5xx, no request left without an answer (0), no wrong answer (negative)."""
    return not any(int(status) >= 500 or int(status) <= 0 for status in statuses)


def corpus_files(directory: Path) -> tuple[list[Path], list[Path]]:
    corpus = sorted(path for path in directory.iterdir() if path.is_file())
    floods = [path for path in corpus if FLOOD_MARK in path.name]
    if not floods:
        raise SystemExit(f"no *{FLOOD_MARK}* image in {directory}: python -m tests.hostile.make_corpus {directory}")
    return corpus, floods


def measure_workers(
    image: str,
    env: dict[str, str],
    workers: int,
    corpus: list[Path],
    floods: list[Path],
    upload: Path,
    total: int,
    concurrency: int,
) -> dict:
    with container(image, {**env, "WORKERS": str(workers)}, workers=workers) as box:
        master = box.master()
        idle = snapshot(master)
        with PeakRss(master) as corpus_peak:
            corpus_statuses = Counter(str(status) for status in send_corpus(box.url, corpus).values())
        after_corpus = snapshot(master)
        with PeakRss(master) as load_peak:
            load_statuses = mixed(box.url, total, concurrency, floods)
        with PeakRss(master) as flood_peak:
            flood_statuses = flood_burst(box.url, floods, concurrency)
        with PeakRss(master) as upload_peak:
            upload_statuses = upload_burst(box.url, upload, concurrency)
        return {
            "workers": workers,
            "idle": idle,
            "after_corpus": after_corpus,
            "peak_corpus_mib": corpus_peak.peak_mib,
            "peak_load_mib": load_peak.peak_mib,
            "peak_floods_mib": flood_peak.peak_mib,
            "peak_uploads_mib": upload_peak.peak_mib,
            "end": snapshot(master),
            **cgroup_figures(master),
            "statuses": {
                "corpus": dict(corpus_statuses),
                "load": dict(load_statuses),
                "floods": dict(flood_statuses),
                "uploads": dict(upload_statuses),
            },
        }


def rss(args: argparse.Namespace) -> dict:
    corpus, floods = corpus_files(args.corpus)
    upload = large_upload(args.corpus)
    env = manifest_env(manifest_container(args.manifest))
    rows = []
    print(
        f"    {'WORKERS':>7}  {'idle (master + workers)':>34}  {'after corpus':>12}  {'peak: corpus':>12}  "
        f"{f'{args.requests} mixed @{args.concurrency}':>17}  {f'{FLOOD_BURST} floods @{args.concurrency}':>16}  "
        f"{f'{FLOOD_BURST} 9 MiB @{args.concurrency}':>15}  {'cgroup peak':>11}",
        flush=True,
    )
    for workers in args.workers:
        row = measure_workers(args.image, env, workers, corpus, floods, upload, args.requests, args.concurrency)
        rows.append(row)
        idle = row["idle"]
        print(
            f"    {workers:>7}  {idle['total_mib']:>8.0f} ({idle['master_mib']:.0f} + "
            f"{' + '.join(f'{m:.0f}' for m in idle['workers_mib']):>17})  {row['after_corpus']['total_mib']:>12.0f}  "
            f"{row['peak_corpus_mib']:>12.0f}  {row['peak_load_mib']:>17.0f}  {row['peak_floods_mib']:>16.0f}  "
            f"{row['peak_uploads_mib']:>15.0f}  {row['peak_mib']:>11.0f}",
            flush=True,
        )
    return {
        "rss": {
            "env": env,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "rows": rows,
            "passed": all(statuses_ok(Counter(statuses)) for row in rows for statuses in row["statuses"].values()),
        }
    }


def limit(args: argparse.Namespace) -> dict:
    corpus, floods = corpus_files(args.corpus)
    upload = large_upload(args.corpus)
    box_spec = manifest_container(args.manifest)
    env = {**manifest_env(box_spec), **dict(item.split("=", 1) for item in args.env)}
    workers = int(env.get("WORKERS", config.SETTINGS.workers))
    limits = box_spec["resources"]["limits"]
    memory_bytes, cpus = int(quantity(limits["memory"])), quantity(limits["cpu"])
    print(
        f"    the manifest's container: WORKERS={workers}, memory limit {limits['memory']} "
        f"({memory_bytes / BYTES_PER_MB:.0f} MiB), cpu limit {limits['cpu']}",
        flush=True,
    )
    with container(args.image, env, str(memory_bytes), f"{cpus:g}", workers) as box:
        master = box.master()
        workers_before, idle = descendant_pids(master), snapshot(master)
        with PeakRss(master) as peak:
            corpus_statuses = Counter(str(status) for status in send_corpus(box.url, corpus).values())
            load_statuses = mixed(box.url, args.requests, args.concurrency, floods, flood_every=args.concurrency)
            burst_statuses = flood_burst(box.url, floods, args.concurrency)
            upload_statuses = upload_burst(box.url, upload, args.concurrency)
        workers_after, cgroup, log = descendant_pids(master), cgroup_figures(master), box.logs()
        state = box.inspect("{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}")
    checks = {
        "the cgroup holds the manifest's memory limit": cgroup["limit_mib"] == round(memory_bytes / BYTES_PER_MB, 1),
        "no OOM kill (the cgroup's oom_kill count is 0)": cgroup["oom_kills"] == 0,
        "the same workers before and after (none killed and replaced)": workers_before == workers_after,
        "gunicorn logged no killed or failed worker": not any(mark in log for mark in KILLED_WORKER_MARKS),
        "the container still runs: not OOMKilled, no restart": state == "true false 0",
        "corpus: no 5xx, every file answered": statuses_ok(corpus_statuses),
        f"{args.requests} mixed requests: no 5xx, all answered, every prediction right": statuses_ok(load_statuses),
        f"{FLOOD_BURST} 40-megapixel images at concurrency {args.concurrency}: no 5xx, all answered": statuses_ok(
            burst_statuses
        ),
        f"{FLOOD_BURST} 9 MiB uploads at concurrency {args.concurrency}: no 5xx, all answered": statuses_ok(
            upload_statuses
        ),
    }
    print(
        f"    corpus ({len(corpus)} files): {dict(corpus_statuses)}; {args.requests} mixed requests at concurrency "
        f"{args.concurrency} (every {args.concurrency}th a 40-megapixel image): {dict(load_statuses)}; "
        f"{FLOOD_BURST} floods at concurrency {args.concurrency}: {dict(burst_statuses)}; {FLOOD_BURST} 9 MiB "
        f"uploads: {dict(upload_statuses)}"
    )
    print(
        f"    RSS idle {idle['total_mib']:.0f} MiB, peak {peak.peak_mib:.0f} MiB (process tree, every "
        f"{POLL_S * 1000:.0f} ms); cgroup ({cgroup['cgroup']}) peak {cgroup['peak_mib']:.0f} MiB of "
        f"{cgroup['limit_mib']:.0f} MiB ({cgroup['peak_mib'] / cgroup['limit_mib']:.0%}), oom_kill "
        f"{cgroup['oom_kills']}"
    )
    for what, ok in checks.items():
        print(f"    {'PASS' if ok else 'FAIL'}  {what}", flush=True)
    return {
        "limit": {
            "env": env,
            "memory_limit": limits["memory"],
            "cpu_limit": limits["cpu"],
            "requests": args.requests,
            "concurrency": args.concurrency,
            "idle": idle,
            "peak_rss_mib": peak.peak_mib,
            **cgroup,
            "state": state,
            "statuses": {
                "corpus": dict(corpus_statuses),
                "load": dict(load_statuses),
                "floods": dict(burst_statuses),
                "uploads": dict(upload_statuses),
            },
            "checks": checks,
            "passed": all(checks.values()),
        }
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("rss", "limit"))
    parser.add_argument("--image", required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--workers", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 4])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="limit: a setting over the manifest's (e.g. IMAGE_MEMORY_BYTES=0, to see the limit bite)",
    )
    args = parser.parse_args(argv)
    report = (rss if args.command == "rss" else limit)(args)
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    (part,) = report.values()
    part.update(
        image=args.image,
        measured=datetime.now(UTC).isoformat(timespec="seconds"),
        command=f"python -m benchmarks.memory {' '.join(sys.argv[1:] if argv is None else argv)}",
    )
    args.output.write_text(json.dumps({**results, **report}, indent=2) + "\n")
    return 0 if part["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
