"""What `make bench` writes besides the printed table: the machine it ran on, the results JSON and the chart."""

from __future__ import annotations

import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from importlib import metadata
from pathlib import Path

from benchmarks.batch import BatchFigures
from benchmarks.figures import HIGH_CONCURRENCY, SERVER_ORDER, RunStats, SoakResult, Target, json_ready, percentile
from benchmarks.fleet import SAMPLE, ServedSettings
from benchmarks.hey import HEY_REQUEST_TIMEOUT_S
from tooling.live_server import REPO_ROOT

logger = logging.getLogger("benchmarks.report")

LOADAVG = Path("/proc/loadavg")
CPUINFO = Path("/proc/cpuinfo")


def parse_cpu_model(cpuinfo_text: str) -> str:
    """The first 'model name' of /proc/cpuinfo ('unknown' where there is none, e.g. some ARM kernels)."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def package_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def command_output(*command: str) -> str | None:
    """A short command's stdout, or None where it is missing or fails (for the machine description only)."""
    executable = shutil.which(command[0])
    if not executable:
        return None
    result = subprocess.run(  # noqa: S603
        [executable, *command[1:]],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def machine_description() -> dict:
    """Enough to tell whether two result files are comparable: CPUs, memory, load, versions."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": parse_cpu_model(CPUINFO.read_text() if CPUINFO.exists() else ""),
        "platform": platform.platform(),
        "loadavg": LOADAVG.read_text().split()[:3] if LOADAVG.exists() else None,
        "python": platform.python_version(),
        "onnxruntime": package_version("onnxruntime"),
        "tensorflow": package_version("tensorflow-cpu", "tensorflow"),
        "keras": package_version("keras"),
        "flask": package_version("Flask", "flask"),
        "gunicorn": package_version("gunicorn"),
        "hey": command_output("dpkg-query", "-W", "-f", "${Version}", "hey"),
    }


def git_state() -> dict:
    status = command_output("git", "status", "--porcelain")
    return {"commit": command_output("git", "rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def warn_if_busy() -> None:
    """Another CPU-heavy process makes every figure noisy (ratios less so): say so up front."""
    if not LOADAVG.exists():
        return
    load = float(LOADAVG.read_text().split()[0])
    cpus = len(os.sched_getaffinity(0))
    if load > cpus / 2:
        logger.warning(
            "load average %.2f on %d CPUs before starting: something else is running, figures will be noisy", load, cpus
        )


def write_chart(latencies: Mapping[str, list[float]], concurrency: Sequence[int], path: Path) -> None:
    """Latency distribution per server, one panel per concurrency, log-x: where the time goes at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(1, len(concurrency), figsize=(5.5 * len(concurrency), 3.8), squeeze=False)
    every = [ms for values in latencies.values() for ms in values if ms > 0]
    bins = np.geomspace(max(min(every, default=0.1), 0.05), max(every, default=1000.0) * 1.05, 80)
    for axis, level in zip(axes[0], concurrency, strict=True):
        for name in SERVER_ORDER:
            values = latencies.get(f"{name} c={level}") or []
            if values:
                weights = np.full(len(values), 100.0 / len(values))
                axis.hist(
                    values,
                    bins=bins,
                    weights=weights,
                    histtype="step",
                    linewidth=1.5,
                    label=f"{name}: p50 {percentile(values, 50):.1f}, p99 {percentile(values, 99):.1f} ms",
                )
        axis.set_xscale("log")
        axis.set_xlabel("latency (ms, log scale)")
        axis.set_ylabel("% of requests")
        axis.set_title(f"concurrency {level}")
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle(f"POST /model/predict, {SAMPLE.relative_to(REPO_ROOT)}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def results(
    plan: dict,
    settings: ServedSettings,
    runs: list[RunStats],
    soak: SoakResult | None,
    targets: list[Target],
    machine: dict,
    started: datetime,
    batch: BatchFigures | None = None,
) -> dict:
    """The results file's content (benchmarks/results/latest.json), before rounding."""
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join(sys.orig_argv),
        "machine": machine,
        "git": git_state(),
        "settings": {
            **plan,
            "workers": settings.workers,
            "worker_connections": settings.worker_connections,
            "sample": str(SAMPLE.relative_to(REPO_ROOT)),
            "hey_request_timeout_s": HEY_REQUEST_TIMEOUT_S,
            "note": "hey reports latencies to 0.1 ms; rss_mb is gunicorn's workers or the seed process",
        },
        "runs": [asdict(run) for run in runs],
        "p99_ms_at_c16": {run.server: run.p99_ms for run in runs if run.concurrency == HIGH_CONCURRENCY},
        "soak": ({**asdict(soak), "rss_after_mb": soak.rss_after_mb, "growth_mb": soak.growth_mb} if soak else None),
        "batch": asdict(batch) if batch is not None else None,
        "targets": [asdict(target) for target in targets],
    }


def write_results(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n")
