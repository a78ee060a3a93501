"""The service's settings: one frozen `Settings`, built once from the environment as `SETTINGS`.

Each field is read from the environment variable of its name in upper case (`max_batch_size` ←
`MAX_BATCH_SIZE`); its help text is the documentation (`python -m tooling.config_docs` writes
docs/configuration.md from it). The app, the model and gunicorn are handed `SETTINGS`; nothing else reads the
environment. maxfw's MAXApp loads this module into Flask's config (it reads `config.py` from the working
directory), so the upper-case Flask keys at the end reach Flask.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parent
ASSETS = REPO_ROOT / "assets"
TRUE_WORDS = ("1", "true", "yes", "on")


class SettingError(ValueError):
    """A setting's value is not one it may take: the message names the variable, the value and what is allowed."""


class Limit(NamedTuple):
    """The range a numeric setting may take; `above` excludes `low` itself."""

    low: float | None = None
    high: float | None = None
    above: bool = False

    def allows(self, value: float) -> bool:
        too_low = self.low is not None and (value <= self.low if self.above else value < self.low)
        return not too_low and (self.high is None or value <= self.high)

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {self.low:g} and {self.high:g}"
        return f"greater than {self.low:g}" if self.above else f"at least {self.low:g}"


INFERENCE_RUNTIMES = ("auto", "onnxruntime", "tensorflow")
# What the settings may be; a Settings built with anything else raises SettingError (and the server does not start).
CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("text", "json"),
    "inference_runtime": INFERENCE_RUNTIMES,
}
AT_LEAST_ONE = Limit(1)
NOT_NEGATIVE = Limit(0)
POSITIVE = Limit(0, above=True)
SHARE = Limit(0, 1)
LIMITS: dict[str, Limit] = {
    "port": Limit(1, 65535),
    "workers": AT_LEAST_ONE,
    "threads": AT_LEAST_ONE,
    "accept_yield_ms": NOT_NEGATIVE,
    "max_connections": AT_LEAST_ONE,
    "backlog": AT_LEAST_ONE,
    "header_timeout": POSITIVE,
    "keepalive_timeout": POSITIVE,  # 0 would let gunicorn read request heads with no time limit at all
    "body_timeout": POSITIVE,
    "send_timeout": POSITIVE,
    "body_buffer_bytes": AT_LEAST_ONE,
    "max_content_length": AT_LEAST_ONE,
    "timeout": AT_LEAST_ONE,
    "graceful_timeout": NOT_NEGATIVE,
    "max_requests": NOT_NEGATIVE,
    "max_requests_jitter": NOT_NEGATIVE,
    "malloc_mmap_threshold_bytes": NOT_NEGATIVE,
    "photo_network_weight": SHARE,
    "none_of_the_ten_photo_weight": SHARE,
    "intra_op_threads": NOT_NEGATIVE,
    "inter_op_threads": AT_LEAST_ONE,
    "default_top_k": Limit(1, 10),
    "none_of_the_ten_threshold": SHARE,
    "max_image_pixels": AT_LEAST_ONE,
    "image_memory_bytes": NOT_NEGATIVE,
    "image_memory_wait": NOT_NEGATIVE,
    "max_batch_size": AT_LEAST_ONE,
    "max_batch_delay_ms": NOT_NEGATIVE,
    "v2_max_batch": AT_LEAST_ONE,
    "grpc_port": Limit(0, 65535),  # 0: no gRPC server
    "grpc_threads": AT_LEAST_ONE,
    "grpc_max_concurrent_rpcs": AT_LEAST_ONE,
    "grpc_max_connection_idle": POSITIVE,
    "grpc_max_connection_age": POSITIVE,
}


def setting(default: Any, help: str, section: str, default_doc: str | None = None) -> Any:
    """A field with its documentation; `default_doc` describes a default derived from other settings."""
    return field(default=default, metadata={"help": help, "section": section, "default_doc": default_doc})


@dataclass(frozen=True)
class Settings:
    # --- HTTP server (gunicorn.conf.py, gunicorn_worker.py) ---
    # A container service listens on every interface (ruff S104 and bandit B104 both flag 0.0.0.0).
    host: str = setting("0.0.0.0", "Interface to listen on.", "server")  # noqa: S104  # nosec B104
    port: int = setting(5000, "Port to listen on.", "server")
    workers: int = setting(
        2,
        "gunicorn worker processes; one per core (Python request handling holds the GIL, "
        "so one worker uses about one core).",
        "server",
    )
    threads: int = setting(
        8,
        "Request threads per worker that run Flask and the model, each on a request the "
        "event loop has read whole; concurrent requests in a worker share a forward pass.",
        "server",
    )
    accept_yield_ms: float = setting(
        2.0,
        "A worker that already holds THREADS connections waits this long "
        "before accepting another, so that a less busy worker takes it first; "
        "0 turns this off.",
        "server",
    )
    max_connections: int = setting(
        2000,
        "Connections one worker holds at once (idle, being read, being "
        "answered); beyond it new connections wait in the listen backlog.",
        "connections",
    )
    backlog: int = setting(
        2048, "Connections the kernel queues for the workers to accept (capped by net.core.somaxconn).", "connections"
    )
    header_timeout: float = setting(
        10.0, "Seconds a new connection has to send its whole request head; then it is closed.", "connections"
    )
    keepalive_timeout: float = setting(
        5.0,
        "Seconds an answered connection may stay open waiting for the next request's whole head (> 0).",
        "connections",
    )
    body_timeout: float = setting(
        30.0,
        "Seconds the whole request body has to arrive once its head has; then 408 "
        "and the connection is closed (30 s lets a 10 MiB upload arrive at "
        "3 Mbit/s).",
        "connections",
    )
    send_timeout: float = setting(
        30.0,
        "Seconds a connection may go without taking a byte of its answer or "
        "sending a byte of its body; then it is cut off. At least HEADER_TIMEOUT "
        "and KEEPALIVE_TIMEOUT (it bounds every read too).",
        "connections",
    )
    body_buffer_bytes: int = setting(
        256 * 1024 * 1024,
        "Bytes the request bodies a worker is receiving at once "
        "may hold between them; the request that would pass it "
        "is answered 503 (Retry-After: 1).",
        "connections",
    )
    max_content_length: int = setting(
        10 * 1024 * 1024, "Largest request body in bytes; a bigger one is answered 413.", "connections"
    )
    timeout: int = setting(
        60,
        "Seconds a worker may go without its heartbeat (its event loop blocked) before gunicorn replaces it.",
        "server",
    )
    graceful_timeout: int = setting(30, "Seconds a stopping worker has to finish the requests it holds.", "server")
    max_requests: int = setting(
        200_000,
        "A worker is replaced (after finishing its requests) once it has served "
        "about this many requests: a guard against slow leaks in native "
        "libraries.",
        "server",
    )
    max_requests_jitter: int = setting(
        20_000, "Random spread of MAX_REQUESTS, so that workers restart apart.", "server"
    )
    malloc_mmap_threshold_bytes: int = setting(
        4 * 1024 * 1024,
        "Each worker asks glibc's malloc to map blocks "
        "of at least this many bytes on their own and "
        "return them to the system when freed (0: glibc's "
        "own adaptive rule, which keeps large freed "
        "uploads in per-thread arenas).",
        "server",
    )
    # --- Logging and metrics ---
    log_level: str = setting("info", "debug, info, warning or error.", "logging")
    log_format: str = setting("text", "text, or json: one JSON object per log line.", "logging")
    request_log: bool = setting(True, "One log line per request (method, path, status, duration).", "logging")
    access_log: bool = setting(False, "gunicorn's own access log on stdout, besides REQUEST_LOG.", "logging")
    prometheus_multiproc_dir: str = setting(
        "",
        "Where the workers keep their Prometheus samples for /metrics "
        "to merge; empty: a fresh temporary directory per server start.",
        "logging",
    )
    # --- Model ---
    model_path: Path = setting(
        ASSETS / "fashion_mnist.h5", "The Keras model file (the source of truth).", "model", "assets/fashion_mnist.h5"
    )
    model_sha256_path: Path = setting(
        None, "Its expected sha256; the server refuses to start on a mismatch.", "model", "MODEL_PATH + .sha256"
    )
    model_metrics_path: Path = setting(
        ASSETS / "model_metrics.json",
        "The figures measured on the model (make evaluate); /model/metadata reports them.",
        "model",
        "assets/model_metrics.json",
    )
    inference_runtime: str = setting(
        "auto",
        "onnxruntime (the int8 ONNX export), tensorflow (the Keras file), "
        "or auto: onnxruntime when the export was made from this very "
        "MODEL_PATH, TensorFlow otherwise.",
        "model",
    )
    onnx_model_path: Path = setting(
        ASSETS / "fashion_mnist.onnx",
        "The ONNX export of MODEL_PATH (python -m training.export_onnx).",
        "model",
        "assets/fashion_mnist.onnx",
    )
    onnx_model_sha256_path: Path = setting(None, "Its expected sha256.", "model", "ONNX_MODEL_PATH + .sha256")
    photo_network: bool = setting(
        True,
        "Show a photo also to the photo network (its 64×64 colour garment crop) "
        "and answer the geometric mean of both networks' probabilities; false: "
        "the 28×28 network alone. A Fashion-MNIST-sized image only ever meets the "
        "28×28 network.",
        "model",
    )
    photo_model_path: Path = setting(
        ASSETS / "fashion_mnist_photo.h5", "The photo network's Keras file.", "model", "assets/fashion_mnist_photo.h5"
    )
    photo_model_sha256_path: Path = setting(None, "Its expected sha256.", "model", "PHOTO_MODEL_PATH + .sha256")
    photo_onnx_model_path: Path = setting(
        ASSETS / "fashion_mnist_photo.onnx",
        "The photo network's ONNX export (python -m training.export_onnx --network photo).",
        "model",
        "assets/fashion_mnist_photo.onnx",
    )
    photo_onnx_model_sha256_path: Path = setting(
        None, "Its expected sha256.", "model", "PHOTO_ONNX_MODEL_PATH + .sha256"
    )
    photo_network_weight: float = setting(
        0.6,
        "The photo network's weight in the geometric mean of both networks' "
        "class probabilities (0 to 1; 0.5: both alike).",
        "model",
    )
    none_of_the_ten_photo_weight: float = setting(
        0.5,
        "The photo network's weight in the geometric mean that gives a photo's none-of-the-ten score (0 to 1).",
        "model",
    )
    intra_op_threads: int = setting(
        None,
        "Threads one forward pass may use, per worker (0: the runtime chooses).",
        "model",
        "cores ÷ WORKERS, at least 1",
    )
    inter_op_threads: int = setting(1, "Independent operations run side by side (a sequential CNN has none).", "model")
    # --- Prediction ---
    default_top_k: int = setting(3, "Classes /model/predict answers when top_k is not given.", "prediction")
    none_of_the_ten_threshold: float = setting(
        0.27,
        "An answer is flagged as none of the ten classes when its "
        "none-of-the-ten score reaches this (0 to 1; the default's "
        "measured rates: docs/api.md).",
        "prediction",
    )
    tta_flip: bool = setting(
        False,
        "Average the prediction of the image and its mirror image: a second forward "
        "pass per image (accuracy and latency in assets/MODEL_CARD.md).",
        "prediction",
    )
    max_image_pixels: int = setting(
        40_000_000, "Largest image (width × height) decoded; Pillow's decompression-bomb limit.", "prediction"
    )
    image_memory_bytes: int = setting(
        384 * 1024 * 1024,
        "Bytes the images one worker is decoding at once may "
        "hold between them, estimated from each image's header "
        "(up to 8 bytes a pixel: 320 MB for a 40-megapixel "
        "RGBA PNG); an image that does not fit waits for room, "
        "one that needs more than all of it is answered 413. "
        "Images under 16 MiB are not counted; 0 turns this off.",
        "prediction",
    )
    image_memory_wait: float = setting(
        30.0, "Seconds an image waits for room in IMAGE_MEMORY_BYTES; then 503 (Retry-After: 1).", "prediction"
    )
    max_batch_size: int = setting(
        16, "Micro-batching: a batch runs when it holds this many images (1 turns micro-batching off)...", "prediction"
    )
    max_batch_delay_ms: float = setting(
        1.0,
        "...or this long after its first image was queued. A lone request on a quiet server is never held.",
        "prediction",
    )
    # --- Open Inference Protocol (/v2) ---
    v2_model_name: str = setting("fashion-mnist", "The model's name under /v2/models/.", "v2")
    v2_max_batch: int = setting(
        256, "Images one V2 request may hold (4 000 images would keep a worker busy for seconds).", "v2"
    )
    # --- Open Inference Protocol over gRPC (api/grpc/) ---
    grpc_port: int = setting(
        8081,
        "Port of the Open Inference Protocol's gRPC service (inference.GRPCInferenceService, with the standard "
        "health service and reflection), on HOST; every worker serves it on the same port. 0 turns gRPC off.",
        "grpc",
    )
    grpc_threads: int = setting(
        8, "Threads per worker that answer gRPC calls (the model's micro-batcher is shared with HTTP).", "grpc"
    )
    grpc_max_concurrent_rpcs: int = setting(
        64,
        "gRPC calls one worker holds at once, answering or queued for a thread; more are refused with "
        "RESOURCE_EXHAUSTED. Connections that send nothing hold no call.",
        "grpc",
    )
    grpc_max_connection_idle: float = setting(
        300.0, "Seconds a gRPC connection may stay without a call before the server closes it (GOAWAY).", "grpc"
    )
    grpc_max_connection_age: float = setting(
        60.0,
        "Seconds after which the server asks a gRPC client to reconnect (GOAWAY; calls in flight finish within "
        "GRACEFUL_TIMEOUT): the kernel, and a Service in front of the pods, spread connections, not calls, so a "
        "long-lived client is dealt out again.",
        "grpc",
    )

    def __post_init__(self) -> None:
        """Fill the defaults that derive from other settings."""
        derived = {
            "model_sha256_path": lambda: Path(f"{self.model_path}.sha256"),
            "onnx_model_sha256_path": lambda: Path(f"{self.onnx_model_path}.sha256"),
            "photo_model_sha256_path": lambda: Path(f"{self.photo_model_path}.sha256"),
            "photo_onnx_model_sha256_path": lambda: Path(f"{self.photo_onnx_model_path}.sha256"),
        }
        for name, value in derived.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value())
        if self.intra_op_threads is None:
            object.__setattr__(self, "intra_op_threads", max(1, (os.cpu_count() or 1) // max(1, self.workers)))
        self._check()

    def _check(self) -> None:
        """Refuse, naming the variable, a value a setting may not take (a typo in LOG_FORMAT would otherwise give
        text logs without a word)."""
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise SettingError(f"{name.upper()}={getattr(self, name)!r}: must be one of {', '.join(allowed)}")
        for name, limit in LIMITS.items():
            if not limit.allows(getattr(self, name)):
                raise SettingError(f"{name.upper()}={getattr(self, name)!r}: must be {limit.describe()}")
        if self.send_timeout < max(self.header_timeout, self.keepalive_timeout):  # it bounds each read too
            raise SettingError(
                f"SEND_TIMEOUT={self.send_timeout!r}: must be at least HEADER_TIMEOUT "
                f"({self.header_timeout:g}) and KEEPALIVE_TIMEOUT ({self.keepalive_timeout:g})"
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Every field whose upper-case name is set in `environ`, parsed to the field's type."""
        values = {
            f.name: _parse(f.name, str(f.type), environ[f.name.upper()])
            for f in dataclasses.fields(cls)
            if f.name.upper() in environ
        }
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests and tools: another model file, no micro-batcher...)."""
        return dataclasses.replace(self, **changes)


TYPE_NAMES = {"int": "a whole number", "float": "a number"}


def _parse(name: str, type_name: str, text: str) -> Any:
    """The annotations are strings (`from __future__ import annotations`): 'int', 'float', 'bool', 'Path'."""
    if type_name == "bool":
        return text.strip().lower() in TRUE_WORDS
    try:
        return {"int": int, "float": float, "Path": Path, "str": str}[type_name](text)
    except ValueError:
        raise SettingError(f"{name.upper()}={text!r}: must be {TYPE_NAMES[type_name]}") from None


def settings_from_environ() -> Settings:
    """The settings, or the process stops with one line naming the variable, its value and what is allowed."""
    try:
        return Settings.from_environ()
    except SettingError as error:
        raise SystemExit(f"max-fashion-mnist cannot start: {error}") from None


SETTINGS = settings_from_environ()

# --- Facts about the service and its model (not settings) ---
API_TITLE = "MAX Fashion-MNIST Classifier"
API_DESC = "Classify a picture of a clothing item into one of the ten Fashion-MNIST classes, with probabilities."
API_VERSION = "1.0.0"
MODEL_ID = "max-fashion-mnist"
MODEL_NAME = "Fashion-MNIST clothing classifier"
MODEL_DESCRIPTION = (
    "Two convolutional neural networks trained on Fashion-MNIST (Zalando) and real clothing "
    "photos (clothing-dataset, CC0), one on the 28x28 grayscale image and one on a photo's "
    "colour garment crop, that classify a clothing image into T-shirt/top, Trouser, Pullover, "
    "Dress, Coat, Sandal, Shirt, Sneaker, Bag or Ankle boot."
)
MODEL_TYPE = "Image Classification"
MODEL_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"
MODEL_LICENSE = "Apache-2.0"
V2_MODEL_VERSION = "1"
# The Open Inference Protocol's routes: their errors are {"error": ...}, MAX's elsewhere {"status", "message"}
# (api/errors.py for Flask's answers, gunicorn_worker.py for the worker's own refusals).
V2_PATH_PREFIX = "/v2/"
# Triton's platform names, by the runtime in use.
V2_PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "tensorflow": "tensorflow_keras"}

# --- Flask / flask-restx keys (maxfw loads this module into Flask's config) ---
MAX_CONTENT_LENGTH = SETTINGS.max_content_length
RESTX_MASK_SWAGGER = False
SWAGGER_UI_DOC_EXPANSION = "list"
ERROR_INCLUDE_MESSAGE = False  # our error bodies carry their own message (V2's is "error", not "message")
RESTX_ERROR_404_HELP = False  # no "did you mean" suggestions in 404 messages
