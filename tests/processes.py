"""A stand-in for gunicorn's master and worker in tests of the process helpers: no model, no port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tooling.live_server import spawn
from tooling.processes import descendant_pids

CHILD_WITHIN_S = 30
# The parent starts a child that sleeps, then sleeps itself; the test ends both.
PARENT = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"
)


def start_parent_with_a_child(log_path: Path) -> subprocess.Popen:
    """The parent process, once its child has started."""
    process = spawn([sys.executable, "-c", PARENT], log_path)
    deadline = time.monotonic() + CHILD_WITHIN_S
    while not descendant_pids(process.pid):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"no child process:\n{log_path.read_text()}")
        time.sleep(0.05)
    return process
