"""A server's process tree and memory, through psutil: gunicorn's workers below its master, and their RSS."""

from __future__ import annotations

from collections.abc import Iterable

import psutil

BYTES_PER_MB = 1024 * 1024  # MB here are MiB, as /proc's VmRSS in KiB / 1024


def descendant_pids(pid: int) -> list[int]:
    """Every live process below pid (gunicorn's master: its workers), sorted; [] if pid itself has gone."""
    try:
        return sorted(child.pid for child in psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def rss_mb(pids: Iterable[int]) -> float:
    """The summed resident memory of these processes, in MB (MiB); one that has gone or is a zombie adds 0."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return total / BYTES_PER_MB
