"""Reads the standard Fashion-MNIST IDX files, so training never depends on a download."""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import struct
from pathlib import Path

import numpy as np

import config

logger = logging.getLogger(__name__)

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_IMAGES_MAGIC = 2051
# Where the project's machines keep the dataset, next to the checkout.
SHARED_DATASET_DIR = config.REPO_ROOT.parent / "shared" / "datasets" / "fashion-mnist"
IDX_LABELS_MAGIC = 2049


class DatasetNotFoundError(FileNotFoundError):
    """Raised when no directory holds the four IDX files."""


def default_data_dir() -> Path:
    """$FASHION_MNIST_DIR, else the shared folder next to the checkout."""
    return Path(os.environ.get("FASHION_MNIST_DIR", SHARED_DATASET_DIR))


def candidate_dirs(explicit: str | None = None) -> list[Path]:
    """Where the dataset may live: the flag, the environment, the shared folder, Keras' cache."""
    dirs = [
        explicit,
        os.environ.get("FASHION_MNIST_DIR"),
        SHARED_DATASET_DIR,
        str(Path.home() / ".keras" / "datasets" / "fashion-mnist"),
    ]
    return [Path(d) for d in dirs if d]


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The --data-dir flag every training script takes, with the search order it falls back on."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory of the four IDX .gz files (default: $FASHION_MNIST_DIR, "
        "../shared/datasets/fashion-mnist, ~/.keras/datasets/fashion-mnist)",
    )


def find_data_dir(explicit: str | None = None) -> Path:
    """First candidate directory that holds every IDX file of both splits."""
    needed = [name for pair in SPLIT_FILES.values() for name in pair]
    for directory in candidate_dirs(explicit):
        if all((directory / name).is_file() for name in needed):
            return directory
    searched = ", ".join(str(d) for d in candidate_dirs(explicit))
    raise DatasetNotFoundError(f"Fashion-MNIST IDX files not found in: {searched}")


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic != expected_magic:
        raise ValueError(f"{path}: not an IDX file of the expected kind (magic {magic})")
    if magic == IDX_IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8).reshape(count)


def load_split(split: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of the official 'train' or 'test' split."""
    directory = find_data_dir(str(data_dir) if data_dir else None)
    images_name, labels_name = SPLIT_FILES[split]
    images = _read_idx(directory / images_name, IDX_IMAGES_MAGIC)
    labels = _read_idx(directory / labels_name, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
    logger.info("loaded %s split: %d images from %s", split, len(images), directory)
    return images, labels
