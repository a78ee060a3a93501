"""gunicorn settings, all taken from config.SETTINGS (and so from the environment).

No preload_app: neither ONNX Runtime nor TensorFlow is fork-safe, so every worker loads the model after the fork.
"""

import ctypes
import math
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.arbiter import Arbiter

import config as service  # not "config": gunicorn reads that name as one of its own settings
from gunicorn_worker import EventWorker

settings = service.SETTINGS  # gunicorn ignores names it does not know

# Prometheus multiprocess mode: prometheus_client reads this variable when the workers import it (after the
# fork), so it is set here, in the master, first.
METRICS_DIR = Path(settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="max-fashion-mnist-metrics-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)

bind = f"{settings.host}:{settings.port}"
workers = settings.workers


M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number (malloc.h)


# Event-driven connection handling: idle and slow clients cost a greenlet each, never a request thread.
worker_class = EventWorker
worker_connections = settings.max_connections
backlog = settings.backlog
keepalive = math.ceil(settings.keepalive_timeout)  # gunicorn only tests it for truth; the worker applies the seconds
timeout = settings.timeout
graceful_timeout = settings.graceful_timeout
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter
loglevel = settings.log_level
accesslog = "-" if settings.access_log else None
errorlog = "-"
chdir = str(service.REPO_ROOT)  # maxfw's MAXApp reads config.py from the working directory
preload_app = False
# gunicorn's control socket lives under $HOME, which a container's non-root user may not have; nothing uses it.
control_socket_disable = True


def on_starting(server) -> None:
    """Samples left by an earlier run (a restarted container keeps its emptyDir) would be added to ours."""
    refuse_a_runtime_that_is_not_installed(server)
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True, exist_ok=True)


def refuse_a_runtime_that_is_not_installed(server) -> None:
    """INFERENCE_RUNTIME=tensorflow without TensorFlow: one line and gunicorn's boot-error code, from the master,
    before any worker starts. Each worker would refuse it too (app.load_verified_model), but when several fail at
    once gunicorn's master may halt on the second while stopping for the first, with a traceback and exit code 1."""
    from core.runtimes import RuntimeUnavailableError, require_tensorflow

    if settings.inference_runtime != "tensorflow":
        return
    try:
        require_tensorflow("INFERENCE_RUNTIME=tensorflow")
    except RuntimeUnavailableError as error:
        server.log.critical("cannot start: %s", error)
        raise SystemExit(Arbiter.WORKER_BOOT_ERROR) from None  # gunicorn's own: a server that cannot boot


def post_fork(server, worker) -> None:
    """In each worker: big temporary blocks go back to the system when freed (the MALLOC_MMAP_THRESHOLD_BYTES setting).

    Left alone where glibc's own MALLOC_MMAP_THRESHOLD_ variable is set, and where the C library is not glibc.
    """
    if settings.malloc_mmap_threshold_bytes <= 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:
        return
    if not mallopt(M_MMAP_THRESHOLD, settings.malloc_mmap_threshold_bytes):
        server.log.warning("mallopt(M_MMAP_THRESHOLD, %d) failed", settings.malloc_mmap_threshold_bytes)


def child_exit(server, worker) -> None:
    """A replaced worker's live gauges must stop counting (its counters stay, as Prometheus expects)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if not settings.prometheus_multiproc_dir:  # our own temporary directory
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
