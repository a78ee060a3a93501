"""What runs the network: ONNX Runtime on the int8 export, or TensorFlow on the Keras file itself.

Only ONNX Runtime is a dependency of the service (requirements.txt); TensorFlow, Keras and h5py are optional
(requirements-tensorflow.txt) and imported only when TensorFlow serves. Without them, a configuration that needs
them stops the server with RuntimeUnavailableError, which says what to install.

Both give a callable: (N, 28, 28, 1) float32 in [0, 1] → (N, 11) float32 softmax outputs, the ten classes and
"none of the ten" (for the photo network: (N, 64, 64, 3) → (N, 11)). With flip
averaging, each image's left-right mirror is run too and the two output vectors are averaged
(Fashion-MNIST's classes are all mirror-symmetric as classes; up-down is never used).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from config import INFERENCE_RUNTIMES
from core.checksum import ModelChecksumError, verify_checksum
from core.images import MODEL_SIDE
from core.labels import NETWORK_OUTPUTS

logger = logging.getLogger(__name__)

Runtime = Callable[[np.ndarray], np.ndarray]
RUNTIMES = INFERENCE_RUNTIMES  # config.py's: the INFERENCE_RUNTIME setting's choices
MODEL_INPUT_SHAPE = (MODEL_SIDE, MODEL_SIDE, 1)
# Written into the ONNX file's metadata by training/export_onnx.py: the sha256 of the Keras file it came from.
SOURCE_SHA256_KEY = "source_sha256"
# What the TensorFlow runtime imports (requirements-tensorflow.txt), and how to get it.
TENSORFLOW_MODULES = ("tensorflow", "keras", "h5py")
INSTALL_TENSORFLOW = (
    "install requirements-tensorflow.txt (make install-tensorflow), or build the image with "
    "--build-arg RUNTIME=tensorflow"
)

_thread_pools_configured = threading.Lock()


class StaleExportError(ModelChecksumError):
    """The ONNX export was made from another Keras file than the one configured: it is not this model."""


class RuntimeUnavailableError(RuntimeError):
    """The runtime this model needs is not installed here: refuse to start, and say what to install."""


def mirrored(batch: np.ndarray) -> np.ndarray:
    """Each image flipped left-right (axis 2 of an (N, H, W, C) batch)."""
    return batch[:, :, ::-1, :]


def average_with_mirror(run: Runtime) -> Runtime:
    """One forward pass over the batch and its mirror images together, then the two halves averaged."""

    def run_with_mirror(batch: np.ndarray) -> np.ndarray:
        probabilities = run(np.concatenate([batch, mirrored(batch)]))
        return (probabilities[: len(batch)] + probabilities[len(batch) :]) / 2.0

    return run_with_mirror


# --------------------------------------------------------------------------- ONNX Runtime


class VerifiedExport(NamedTuple):
    """The ONNX export, checked against its checksum and its source, with the session that will serve it."""

    sha256: str
    session: Any  # onnxruntime.InferenceSession (imported lazily)


def onnx_session_options(intra_op: int, inter_op: int):
    """Threads as configured, and no spinning: an idle ORT thread would otherwise busy-wait on a core that
    the worker's Python threads need for parsing requests."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op
    options.inter_op_num_threads = inter_op
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT warns about every initializer it folds
    return options


def open_onnx_session(path: Path, intra_op: int, inter_op: int):
    """An ONNX Runtime session on the CPU; session.run releases the GIL while the network runs."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), onnx_session_options(intra_op, inter_op), providers=["CPUExecutionProvider"])


def onnx_source_sha256(session) -> str | None:
    """The Keras file's sha256 that the export records in its metadata."""
    return session.get_modelmeta().custom_metadata_map.get(SOURCE_SHA256_KEY)


def onnx_runtime(session) -> Runtime:
    input_name = session.get_inputs()[0].name
    output_names = [session.get_outputs()[0].name]

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(output_names, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    return run


def verified_onnx_export(
    onnx_path: Path, onnx_checksum_path: Path, keras_sha256: str, intra_op: int = 1, inter_op: int = 1
) -> VerifiedExport:
    """The export, once it matches its checksum file and was made from this Keras file; its session (opened
    with the serving thread settings) is the one that serves, so the file is loaded once."""
    onnx_sha256 = verify_checksum(onnx_path, onnx_checksum_path)
    session = open_onnx_session(onnx_path, intra_op, inter_op)
    source = onnx_source_sha256(session)
    if source != keras_sha256:
        raise StaleExportError(
            f"{onnx_path} was exported from a Keras file with sha256 {source}, not the configured model "
            f"({keras_sha256}): run `python -m training.export_onnx` again"
        )
    return VerifiedExport(onnx_sha256, session)


# --------------------------------------------------------------------------- TensorFlow


def quiet_tensorflow() -> None:
    """TensorFlow reads its log level from the environment when first imported: errors only, unless the
    environment says otherwise (TF_CPP_MIN_LOG_LEVEL)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def missing_tensorflow_modules() -> list[str]:
    """Which of TensorFlow, Keras and h5py cannot be found, without importing any (TensorFlow takes seconds and
    hundreds of MB to import)."""
    missing = []
    for name in TENSORFLOW_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken parent package, or a module without a spec
            found = False
        if not found:
            missing.append(name)
    return missing


def require_tensorflow(why: str) -> None:
    """RuntimeUnavailableError, starting with `why`, when TensorFlow's modules are not installed."""
    missing = missing_tensorflow_modules()
    if missing:
        raise RuntimeUnavailableError(
            f"{why}, but TensorFlow is not installed here (no module {', '.join(missing)}): {INSTALL_TENSORFLOW}"
        )


def import_tensorflow():
    """(tensorflow, keras), imported: RuntimeUnavailableError rather than an ImportError's traceback."""
    quiet_tensorflow()
    try:
        import keras
        import tensorflow as tf
    except ImportError as error:
        raise RuntimeUnavailableError(f"TensorFlow cannot be imported ({error}): {INSTALL_TENSORFLOW}") from None
    return tf, keras


def configure_tensorflow_threads(intra_op: int, inter_op: int) -> None:
    """TensorFlow's thread pools can only be sized before its runtime starts; later calls are no-ops."""
    tf, _ = import_tensorflow()

    with _thread_pools_configured:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        except RuntimeError:
            logger.debug("TensorFlow runtime already started; thread pools left as they are")


def load_tensorflow_runtime(
    path: Path, intra_op: int, inter_op: int, input_shape: tuple[int, ...] = MODEL_INPUT_SHAPE
) -> Runtime:
    """One traced graph for any batch size: the fixed signature stops a retrace per batch shape."""
    configure_tensorflow_threads(intra_op, inter_op)
    tf, keras = import_tensorflow()
    model = keras.models.load_model(path, compile=False)
    if tuple(model.output_shape[1:]) != (NETWORK_OUTPUTS,):
        raise ValueError(
            f"{path}: model outputs {model.output_shape}, expected {NETWORK_OUTPUTS} (ten classes and none of the ten)"
        )
    signature = [tf.TensorSpec([None, *input_shape], tf.float32, name="image")]
    # The concrete function is the one graph traced for this signature; calling it directly skips the
    # tf.function's per-call dispatch (about 0.3 ms a call here, a quarter of a batch-1 prediction).
    infer = tf.function(lambda batch: model(batch, training=False), input_signature=signature)
    concrete = infer.get_concrete_function()

    def run(batch: np.ndarray) -> np.ndarray:
        return concrete(np.asarray(batch, dtype=np.float32)).numpy()

    return run


# --------------------------------------------------------------------------- choosing one


def onnx_runtime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_runtime(
    requested: str, onnx_path: Path, onnx_checksum_path: Path, keras_sha256: str, intra_op: int = 1, inter_op: int = 1
) -> tuple[str, VerifiedExport | None]:
    """The runtime to serve with, and the verified export when it is ONNX Runtime.

    "auto" means ONNX Runtime when a verified export of this very Keras file is there, TensorFlow otherwise;
    "onnxruntime" insists on that export (an error to start without it). TensorFlow, asked for or fallen back
    to, must be installed (RuntimeUnavailableError, before anything is loaded).
    """
    if requested not in RUNTIMES:
        raise ValueError(f"INFERENCE_RUNTIME must be one of {', '.join(RUNTIMES)}, not {requested!r}")
    if requested == "tensorflow":
        require_tensorflow("INFERENCE_RUNTIME=tensorflow")
        return "tensorflow", None
    if requested == "onnxruntime":
        return "onnxruntime", verified_onnx_export(onnx_path, onnx_checksum_path, keras_sha256, intra_op, inter_op)
    if not onnx_runtime_available():
        require_tensorflow("onnxruntime is not installed, so TensorFlow would serve the Keras file")
        logger.warning("onnxruntime is not installed: serving %s with TensorFlow", onnx_path)
        return "tensorflow", None
    try:
        return "onnxruntime", verified_onnx_export(onnx_path, onnx_checksum_path, keras_sha256, intra_op, inter_op)
    except ModelChecksumError as error:
        require_tensorflow(
            f"INFERENCE_RUNTIME=auto cannot serve the ONNX export ({error}), so TensorFlow would serve the Keras file"
        )
        logger.warning("not using the ONNX export (%s): serving the Keras file with TensorFlow, which is slower", error)
        return "tensorflow", None


def load_runtime(
    keras_path: Path,
    export: VerifiedExport | None,
    intra_op: int,
    inter_op: int,
    flip_averaging: bool,
    input_shape: tuple[int, ...] = MODEL_INPUT_SHAPE,
) -> Runtime:
    """The network ready to call, warmed up (the first call builds kernels and buffers): the verified export's
    session when there is one, else TensorFlow on the Keras file. `input_shape`: one image's, (28, 28, 1) for
    the 28×28 network, (64, 64, 3) for the photo network."""
    run = (
        onnx_runtime(export.session) if export else load_tensorflow_runtime(keras_path, intra_op, inter_op, input_shape)
    )
    if flip_averaging:
        run = average_with_mirror(run)
    probabilities = run(np.zeros((1, *input_shape), dtype=np.float32))
    if probabilities.shape != (1, NETWORK_OUTPUTS):
        raise ValueError(
            f"the model outputs {probabilities.shape[1:]}, expected ({NETWORK_OUTPUTS},): ten classes "
            "and none of the ten"
        )
    return run
