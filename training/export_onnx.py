"""Export a shipped Keras network to the int8 ONNX file the server runs with ONNX Runtime.

Usage: python -m training.export_onnx [--network fashion_mnist|photo] [--data-dir D] [--photos-dir P]
                                      [--model PATH] [--output PATH] [--calibration-images N]
                                      [--calibration-photos N]
--network photo exports the photo network (assets/fashion_mnist_photo.h5, input (N, 64, 64, 3)); its ranges
are calibrated on training photos' colour crops and on Fashion-MNIST images drawn as photos.

Why: on a CPU, ONNX Runtime runs this network about 5x faster than TensorFlow at batch 1 and 3x in a batch,
once its weights and activations are 8-bit integers (VNNI instructions), with the same test accuracy
(assets/MODEL_CARD.md; `make evaluate` (`python -m training.evaluate`) measures both runtimes).
Steps, each by the library made for it:
  1. tf2onnx converts the Keras graph (float32, opset OPSET) with the server's input signature;
  2. onnxruntime.quantization quantizes it statically: int8 weights per output channel, uint8 activations,
     ranges calibrated with the percentile method on N Fashion-MNIST training images and M training photos
     chosen with a fixed seed (never test images, never the photos held back for validation); weights use 7
     of their 8 bits (reduce_range), because on CPUs without VNNI ONNX Runtime's u8×s8 kernels add pairs of
     products in 16 bits, which saturate with full-range weights (measured: 0.9364 instead of 0.9393 on the
     test set on such a CPU);
  3. the Keras file's sha256 goes into the ONNX metadata (the server refuses an export of another model),
     and the export's own sha256 into <output>.sha256.
The same inputs give the same weights, ranges and graph (tf2onnx may keep either of two equal constants, so
the file's bytes, and its sha256, can still differ from one export to the next).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import config
from core.checksum import verify_checksum, write_checksum
from core.model import PHOTO_INPUT_SHAPE, to_model_batch, to_photo_batch
from core.runtimes import MODEL_INPUT_SHAPE, SOURCE_SHA256_KEY
from training.dataset import add_data_dir_argument, load_split
from training.photo_network import draw_as_photos
from training.photos import PhotosNotFoundError, add_photos_dir_argument, all_senders, load_photos
from training.record import read_training_record
from training.senders import split_by_sender

logger = logging.getLogger("training.export_onnx")

OPSET = 17
INPUT_NAME = "image"
NETWORKS = ("fashion_mnist", "photo")
DEFAULT_CALIBRATION_IMAGES = 1000
DEFAULT_CALIBRATION_PHOTOS = 300
CALIBRATION_SEED = 0
# Activation ranges that keep 99.999 % of the calibration values: the rare extremes do not stretch the
# 8-bit scale. Measured on the test set: percentile 93.93 % (= float32), min-max 93.97 %; both are within
# noise, and percentile's probabilities are the closer to float32's.
CALIBRATION_METHOD = "Percentile"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_photos_dir_argument(parser)
    parser.add_argument(
        "--network",
        choices=NETWORKS,
        default="fashion_mnist",
        help="the 28×28 network or the photo network (default: %(default)s)",
    )
    parser.add_argument("--model", type=Path, default=None, help="Keras file (default: the network's in assets/)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="ONNX file to write, with <output>.sha256 next to it (default: the network's in assets/)",
    )
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=DEFAULT_CALIBRATION_IMAGES,
        help="Fashion-MNIST training images that set the int8 ranges (default: %(default)s)",
    )
    parser.add_argument(
        "--calibration-photos",
        type=int,
        default=DEFAULT_CALIBRATION_PHOTOS,
        help="training photos (never validation ones) that set them too (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    photo = args.network == "photo"
    settings = config.SETTINGS
    args.model = args.model or (settings.photo_model_path if photo else settings.model_path)
    args.output = args.output or (settings.photo_onnx_model_path if photo else settings.onnx_model_path)
    return args


def calibration_images(data_dir: str | None, count: int, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """count Fashion-MNIST training images chosen with a fixed seed, (count, 28, 28) uint8."""
    images, _ = load_split("train", data_dir)
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), size=count, replace=False))
    return images[chosen]


def calibration_batches(data_dir: str | None, count: int, seed: int = CALIBRATION_SEED) -> list[np.ndarray]:
    """count training images, one per batch, as the server feeds them (float32 in [0, 1])."""
    return [to_model_batch(image[np.newaxis]) for image in calibration_images(data_dir, count, seed)]


def training_photos(
    photos_dir: Path | None, keras_path: Path, keras_sha256: str, count: int, seed: int = CALIBRATION_SEED
):
    """count photos of the sender split's training part (never validation or final-check ones), or None when
    the model was not trained on photos or none are found."""
    if not count:
        return None
    record = read_training_record(keras_path, keras_sha256) or {}
    if not record.get("data", {}).get("photos"):
        logger.warning("the model was not trained on photos (no record says so): calibrating on Fashion-MNIST only")
        return None
    try:
        training = split_by_sender(load_photos(photos_dir), all_senders(photos_dir))["train"]
    except PhotosNotFoundError as error:
        logger.warning("%s: calibrating on Fashion-MNIST only", error)
        return None
    return training.subset(
        np.sort(np.random.default_rng(seed).choice(len(training), size=min(count, len(training)), replace=False))
    )


def calibration_photo_batches(
    photos_dir: Path | None, keras_path: Path, keras_sha256: str, count: int, seed: int = CALIBRATION_SEED
) -> list[np.ndarray]:
    """count training photos, one per batch: photos reach activations Fashion-MNIST never does, and their
    ranges must fit in 8 bits too."""
    photos = training_photos(photos_dir, keras_path, keras_sha256, count, seed)
    return [] if photos is None else [to_model_batch(image[np.newaxis]) for image in photos.images]


def photo_network_batches(
    data_dir: str | None,
    photos_dir: Path | None,
    keras_path: Path,
    keras_sha256: str,
    images: int,
    photos: int,
    seed: int = CALIBRATION_SEED,
) -> list[np.ndarray]:
    """The photo network's calibration: training photos' colour crops and Fashion-MNIST images drawn as photos
    (what it was trained on), one per batch."""
    chosen = training_photos(photos_dir, keras_path, keras_sha256, photos, seed)
    crops = [] if chosen is None else list(chosen.crops)
    drawn = list(draw_as_photos(calibration_images(data_dir, images, seed), np.random.default_rng(seed)))
    return [to_photo_batch(crop[np.newaxis]) for crop in drawn + crops]


def convert_to_float_onnx(keras_path: Path, output: Path, input_shape: tuple[int, ...] = MODEL_INPUT_SHAPE) -> None:
    """tf2onnx on a tf.function with the server's signature, so the ONNX input is (N, *input_shape) float32."""
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(keras_path, compile=False)
    signature = [tf.TensorSpec([None, *input_shape], tf.float32, name=INPUT_NAME)]
    infer = tf.function(lambda batch: model(batch, training=False), input_signature=signature)
    tf2onnx.convert.from_function(infer, input_signature=signature, opset=OPSET, output_path=str(output))


def quantize_to_int8(float_path: Path, output: Path, batches: list[np.ndarray]) -> None:
    """Static QDQ quantization: per-channel int8 weights, uint8 activations from calibration ranges."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds: Iterator[dict] = iter({INPUT_NAME: batch} for batch in batches)

        def get_next(self) -> dict | None:
            return next(self._feeds, None)

    prepared = float_path.with_suffix(".prepared.onnx")
    # Folds batch norm into the convolutions first, so each is quantized as one op.
    quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(output),
        Batches(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        reduce_range=True,
        calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHOD),
        nodes_to_exclude=softmax_nodes(prepared),
    )


def softmax_nodes(onnx_path: Path) -> list[str]:
    """The softmax stays float32: quantized, its probabilities would come in steps of 1/255."""
    import onnx

    return [node.name for node in onnx.load(str(onnx_path)).graph.node if node.op_type == "Softmax"]


def record_source(onnx_path: Path, keras_sha256: str, calibration_images: int, calibration_photos: int) -> None:
    """The Keras file's sha256 and how the export was made, in the ONNX file's own metadata."""
    import onnx

    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    for key, value in (
        (SOURCE_SHA256_KEY, keras_sha256),
        ("quantization", "int8 static QDQ, per-channel 7-bit weights (reduce_range)"),
        (
            "calibration",
            f"{CALIBRATION_METHOD}, {calibration_images} training images and "
            f"{calibration_photos} training photos, seed {CALIBRATION_SEED}",
        ),
        ("exported_by", "training/export_onnx.py"),
    ):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(onnx_path))


def export(
    keras_path: Path,
    output: Path,
    data_dir: str | None,
    calibration_images: int,
    photos_dir: Path | None = None,
    calibration_photos: int = 0,
    network: str = "fashion_mnist",
) -> str:
    """Write the int8 ONNX export of keras_path and its checksum; returns the export's sha256."""
    keras_sha256 = verify_checksum(keras_path, Path(f"{keras_path}.sha256"))
    if network == "photo":
        batches = photo_network_batches(
            data_dir, photos_dir, keras_path, keras_sha256, calibration_images, calibration_photos
        )
        photo_count, input_shape = len(batches) - calibration_images, PHOTO_INPUT_SHAPE
    else:
        photo_batches = calibration_photo_batches(photos_dir, keras_path, keras_sha256, calibration_photos)
        batches = calibration_batches(data_dir, calibration_images) + photo_batches
        photo_count, input_shape = len(photo_batches), MODEL_INPUT_SHAPE
    with tempfile.TemporaryDirectory(prefix="export_onnx_") as work:
        float_path = Path(work) / "float32.onnx"
        convert_to_float_onnx(keras_path, float_path, input_shape)
        quantize_to_int8(float_path, Path(work) / "int8.onnx", batches)
        record_source(Path(work) / "int8.onnx", keras_sha256, calibration_images, photo_count)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes((Path(work) / "int8.onnx").read_bytes())
    digest = write_checksum(output, Path(f"{output}.sha256"))
    logger.info("wrote %s (sha256 %s) from %s (sha256 %s)", output, digest, keras_path, keras_sha256)
    return digest


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    export(
        args.model,
        args.output,
        args.data_dir,
        args.calibration_images,
        args.photos_dir,
        args.calibration_photos,
        args.network,
    )


if __name__ == "__main__":
    main()
