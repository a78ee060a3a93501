"""Every setting of the service, each overridable by an environment variable of the same name.

maxfw's MAXApp loads this module into Flask's config, so the upper-case Flask keys below reach Flask.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent


def _env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


# --- API description (Swagger) ---
API_TITLE = "MAX Fashion-MNIST Classifier"
API_DESC = ("Classify a picture of a clothing item into one of the ten Fashion-MNIST classes, "
            "with probabilities.")
API_VERSION = "1.0.0"

# --- HTTP server ---
# A container service listens on every interface (ruff S104 and bandit B104 both flag 0.0.0.0).
HOST = _env_str("HOST", "0.0.0.0")  # noqa: S104  # nosec B104
PORT = _env_int("PORT", 5000)
WORKERS = _env_int("WORKERS", 2)  # one per core: Python request handling holds the GIL, so one worker uses ~1 core
# Threads per worker that run Flask and the model, each on a request the event loop has read whole; concurrent
# requests in a worker share a forward pass (micro-batching).
THREADS = _env_int("THREADS", 8)
# A worker that already holds THREADS connections waits this long before accepting another, so that a less
# busy worker takes it first (gunicorn_worker.SharingServer); 0 turns this off.
ACCEPT_YIELD_MS = _env_float("ACCEPT_YIELD_MS", 2.0)
# Connections are read by an event loop per worker (gunicorn's gevent worker, gunicorn_worker.py), so an idle or
# slow client costs a greenlet and a socket, not a thread. Each limit below cuts off a client that holds a
# connection without making progress; none of them slows the requests of others.
# Connections one worker holds at once (idle, being read, being answered); beyond it, new connections wait in
# the listen backlog for any worker to free one. Each costs a file descriptor (the worker raises its own limit).
MAX_CONNECTIONS = _env_int("MAX_CONNECTIONS", 2000)
# Connections the kernel queues for the workers to accept (capped by net.core.somaxconn).
BACKLOG = _env_int("BACKLOG", 2048)
# Seconds a new connection has to send its whole request head (request line and headers); then it is closed.
HEADER_TIMEOUT = _env_float("HEADER_TIMEOUT", 10.0)
# Seconds an answered connection may stay open waiting for the next request's whole head (> 0).
KEEPALIVE_TIMEOUT = _env_float("KEEPALIVE_TIMEOUT", 5.0)
# Seconds the whole request body has to arrive once its head has; then 408 and the connection is closed.
# 30 s lets a 10 MiB upload (MAX_CONTENT_LENGTH) arrive at 3 Mbit/s.
BODY_TIMEOUT = _env_float("BODY_TIMEOUT", 30.0)
# Seconds a connection may go without taking a byte of its answer or sending a byte of its body: then cut off
# (at least HEADER_TIMEOUT and KEEPALIVE_TIMEOUT: it bounds every single read too; gunicorn.conf.py checks).
SEND_TIMEOUT = _env_float("SEND_TIMEOUT", 30.0)
# Bytes the request bodies a worker is receiving at once may hold between them (bodies are read whole, in
# memory, before the app sees them); the request whose body would pass it is answered 503 (Retry-After: 1).
BODY_BUFFER_BYTES = _env_int("BODY_BUFFER_BYTES", 256 * 1024 * 1024)
# Seconds a worker may go without its heartbeat (its event loop blocked) before gunicorn replaces it.
TIMEOUT = _env_int("TIMEOUT", 60)
# Each worker asks glibc's malloc to map blocks of at least this many bytes on their own and hand them back to
# the system when freed (0: glibc's own adaptive rule). Under that rule, blocks up to 32 MiB freed by a
# request thread (a large upload, a decoded image) stay in that thread's arena: measured, +200 MB of worker
# memory after the hostile-input corpus (tests/test_hostile.py) against +18 MB with 4 MiB.
MALLOC_MMAP_THRESHOLD_BYTES = _env_int("MALLOC_MMAP_THRESHOLD_BYTES", 4 * 1024 * 1024)
GRACEFUL_TIMEOUT = _env_int("GRACEFUL_TIMEOUT", 30)
# A worker is replaced (after finishing its requests) once it has served about this many requests: a guard
# against slow leaks in native libraries. The jitter spreads the restarts of several workers apart.
MAX_REQUESTS = _env_int("MAX_REQUESTS", 200_000)
MAX_REQUESTS_JITTER = _env_int("MAX_REQUESTS_JITTER", 20_000)
LOG_LEVEL = _env_str("LOG_LEVEL", "info")
LOG_FORMAT = _env_str("LOG_FORMAT", "text")  # "json": one JSON object per log line
REQUEST_LOG = _env_bool("REQUEST_LOG", True)  # one log line per request (method, path, status, duration)
# Where gunicorn's workers keep their Prometheus samples for /metrics to merge; empty: a fresh temporary
# directory per server start. prometheus_client reads the variable itself.
PROMETHEUS_MULTIPROC_DIR = _env_str("PROMETHEUS_MULTIPROC_DIR", "")
ACCESS_LOG = _env_bool("ACCESS_LOG", False)

# --- Flask / flask-restx ---
MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 10 * 1024 * 1024)
RESTX_MASK_SWAGGER = False
SWAGGER_UI_DOC_EXPANSION = "list"
ERROR_INCLUDE_MESSAGE = False  # our error bodies carry their own message (V2's is "error", not "message")
RESTX_ERROR_404_HELP = False  # no "did you mean" suggestions in 404 messages

# --- Model ---
MODEL_PATH = Path(_env_str("MODEL_PATH", str(REPO_ROOT / "assets" / "fashion_mnist.h5")))
MODEL_SHA256_PATH = Path(_env_str("MODEL_SHA256_PATH", f"{MODEL_PATH}.sha256"))
MODEL_METRICS_PATH = Path(_env_str("MODEL_METRICS_PATH", str(REPO_ROOT / "assets" / "model_metrics.json")))
MODEL_ID = "max-fashion-mnist"
MODEL_NAME = "Fashion-MNIST clothing classifier"
MODEL_DESCRIPTION = ("A convolutional neural network trained on Fashion-MNIST (Zalando) and real clothing "
                     "photos (clothing-dataset-small, CC0) that classifies "
                     "a clothing image into T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, "
                     "Sneaker, Bag or Ankle boot.")
MODEL_TYPE = "Image Classification"
MODEL_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"
MODEL_LICENSE = "Apache-2.0"
# What runs the network. "onnxruntime": the int8 ONNX export of MODEL_PATH (training/export_onnx.py), about
# 5x faster on a CPU than TensorFlow at batch 1 and 3x in a batch, with the same test accuracy (MODEL_CARD.md);
# "tensorflow": the Keras file itself; "auto": onnxruntime when the export was made from this very MODEL_PATH,
# TensorFlow otherwise (a model swapped in without re-exporting is still served, only slower).
INFERENCE_RUNTIME = _env_str("INFERENCE_RUNTIME", "auto")
ONNX_MODEL_PATH = Path(_env_str("ONNX_MODEL_PATH", str(REPO_ROOT / "assets" / "fashion_mnist.onnx")))
ONNX_MODEL_SHA256_PATH = Path(_env_str("ONNX_MODEL_SHA256_PATH", f"{ONNX_MODEL_PATH}.sha256"))
# Threads one forward pass may use, per worker: the CPU's cores shared out between the workers, so that
# workers do not oversubscribe the cores (0: the runtime chooses, i.e. every core in every worker).
INTRA_OP_THREADS = _env_int("INTRA_OP_THREADS", max(1, (os.cpu_count() or 1) // max(1, WORKERS)))
# A sequential CNN has no independent ops to run side by side.
INTER_OP_THREADS = _env_int("INTER_OP_THREADS", 1)
# TensorFlow reads this from the environment when it is first imported, which happens after this module.
TF_CPP_MIN_LOG_LEVEL = _env_str("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_CPP_MIN_LOG_LEVEL"] = TF_CPP_MIN_LOG_LEVEL

# --- Open Inference Protocol (KServe V2) routes under /v2 ---
V2_MODEL_NAME = _env_str("V2_MODEL_NAME", "fashion-mnist")
V2_MODEL_VERSION = "1"
# Triton's platform names, by INFERENCE_RUNTIME in use.
V2_PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "tensorflow": "tensorflow_keras"}
# Images one V2 request may hold: a bigger batch would keep a worker busy for seconds (4 000 images: 3.7 s).
V2_MAX_BATCH = _env_int("V2_MAX_BATCH", 256)

# --- Micro-batching (core/batching.py): concurrent requests in a worker share one forward pass ---
# A batch runs when it holds this many images (1 turns micro-batching off)...
MAX_BATCH_SIZE = _env_int("MAX_BATCH_SIZE", 16)
# ...or this long after its first image was queued. A lone request on a quiet server is never held.
MAX_BATCH_DELAY_MS = _env_float("MAX_BATCH_DELAY_MS", 1.0)

# --- Prediction ---
DEFAULT_TOP_K = _env_int("DEFAULT_TOP_K", 3)
# Test-time augmentation: average the prediction of the image and its left-right mirror. Costs a second
# forward pass per image; its measured accuracy and latency are in assets/MODEL_CARD.md.
TTA_FLIP = _env_bool("TTA_FLIP", False)
MAX_IMAGE_PIXELS = _env_int("MAX_IMAGE_PIXELS", 40_000_000)  # Pillow's decompression-bomb limit

# --- Pre-processing of photos (core/images.py, core/foreground.py, core/deskew.py) ---
# Photos are shrunk to this longest side before the garment is looked for: the mask needs no more detail,
# and a 12-megapixel upload then costs little more than its decoding. 128 scored as 256 did on the photo
# validation split (82.3 % both, python -m training.compare_preprocessing) at a quarter of the pixels.
PREPROCESS_WORK_SIDE = _env_int("PREPROCESS_WORK_SIDE", 128)
# Colour counts as contrast (a blue shirt on a grey floor of the same brightness); false: brightness only.
PREPROCESS_COLOUR = _env_bool("PREPROCESS_COLOUR", True)
# The foreground mask is grouped into connected parts on a grid of at most this many cells a side.
PREPROCESS_MASK_GRID = _env_int("PREPROCESS_MASK_GRID", 64)
# Blur radius (pixels at the working size) that hides fine background texture and noise before thresholding.
PREPROCESS_BLUR_RADIUS = _env_float("PREPROCESS_BLUR_RADIUS", 2.0)
# A pixel is garment when it differs from the fitted background by more than this fraction of full scale...
PREPROCESS_MIN_CONTRAST = _env_float("PREPROCESS_MIN_CONTRAST", 0.08)
# ...and by more than this many robust standard deviations of the border (the background's own texture).
PREPROCESS_NOISE_SIGMAS = _env_float("PREPROCESS_NOISE_SIGMAS", 4.0)
# A person wearing the garment (core/skin.py): skin-coloured pixels are left out of the garment search when
# they make between these shares of the foreground (face, arms, legs beside the garment); outside it the
# skin colour is the garment's own (a beige coat) or a few stray pixels. A maximum of 0 turns it off.
PREPROCESS_SKIN_MIN_SHARE = _env_float("PREPROCESS_SKIN_MIN_SHARE", 0.03)
PREPROCESS_SKIN_MAX_SHARE = _env_float("PREPROCESS_SKIN_MAX_SHARE", 0.5)
# Parts of the mask at least this fraction of the largest one's size count as garment too (sandal straps).
PREPROCESS_MIN_PART_FRACTION = _env_float("PREPROCESS_MIN_PART_FRACTION", 0.25)
# Margin added around the garment's bounding box, as a fraction of its longer side. Fashion-MNIST's own
# objects touch the 28-pixel frame on their long side (98 % of test images), hence 0.
PREPROCESS_CROP_MARGIN = _env_float("PREPROCESS_CROP_MARGIN", 0.0)
# Photos tilted by up to this many degrees either way are turned upright (core/deskew.py); 0 turns it off.
PREPROCESS_MAX_TILT_DEGREES = _env_float("PREPROCESS_MAX_TILT_DEGREES", 12.0)
# Angle step of the tilt search.
PREPROCESS_TILT_STEP_DEGREES = _env_float("PREPROCESS_TILT_STEP_DEGREES", 1.0)
# A tilt is undone only when turning shrinks the garment's bounding box by at least this fraction
# (2 % measured best on an earlier synthetic photo set; 0 % and 5 % both scored lower).
PREPROCESS_MIN_TILT_GAIN = _env_float("PREPROCESS_MIN_TILT_GAIN", 0.02)

# --- Training data (the standard IDX files) ---
FASHION_MNIST_DIR = _env_str("FASHION_MNIST_DIR", str(REPO_ROOT.parent / "shared" / "datasets" / "fashion-mnist"))
