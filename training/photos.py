"""Real clothing photos (clothing-dataset-small's layout) as the 28×28 arrays the server shows its model.

Every photo goes through core.images.image_to_model_array, the server's own pre-processing, so the array a
photo is trained and judged on is exactly what POST /model/predict would show the network (train/serve
parity). A folder may name several Fashion-MNIST classes ("shoes" is any footwear): each photo carries the
set of classes that count as right, as a boolean mask. The arrays are cached under artifacts/, keyed by the
photos and by the pre-processing code, so a change to either rebuilds them.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import config
from core.images import MODEL_SIDE, image_to_model_array
from core.labels import NUM_CLASSES

logger = logging.getLogger(__name__)

# Folder of clothing-dataset-small → the Fashion-MNIST classes its photos may show (its README's table).
# shorts, skirt and hat are none of the ten and are left out.
FOLDER_CLASSES: dict[str, tuple[int, ...]] = {
    "t-shirt": (0,),
    "pants": (1,),
    "longsleeve": (0, 2, 6),
    "dress": (3,),
    "outwear": (4,),
    "shirt": (6,),
    "shoes": (5, 7, 9),
}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
DEFAULT_PHOTOS_DIR = config.REPO_ROOT.parent / "shared" / "datasets" / "clothing-photos"
CACHE_DIR = config.REPO_ROOT / "artifacts" / "photo-arrays"
# The modules whose code decides what a photo becomes: a change to any of them rebuilds the cache.
PREPROCESSING_SOURCES = ("core/images.py", "core/foreground.py", "core/deskew.py", "core/skin.py")
DEFAULT_VALIDATION_FRACTION = 0.15
DEFAULT_SPLIT_SEED = 42


class PhotosNotFoundError(FileNotFoundError):
    """No folder of the known names under the photo directory."""


@dataclass(frozen=True)
class PhotoSet:
    """Photos as model arrays: images (N, 28, 28) uint8, allowed (N, 10) bool, folder name and path each."""

    images: np.ndarray
    allowed: np.ndarray
    folders: np.ndarray
    files: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray) -> PhotoSet:
        return PhotoSet(self.images[indices], self.allowed[indices], self.folders[indices], self.files[indices])


def add_photos_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The --photos-dir flag of every training script, with the environment fallback."""
    parser.add_argument("--photos-dir", type=Path, default=None,
                        help="clothing-dataset-small checkout (its train/<folder>/*.jpg), or a folder of "
                             "<folder>/*.jpg (default: $CLOTHING_PHOTOS_DIR, then ../shared/datasets/clothing-photos)")


def find_photos_root(explicit: Path | None = None) -> Path:
    """The folder whose sub-folders are the dataset's class folders (the train/ split when there is one)."""
    candidates = [explicit, os.environ.get("CLOTHING_PHOTOS_DIR"), DEFAULT_PHOTOS_DIR]
    for candidate in (Path(c) for c in candidates if c):
        for root in (candidate / "train", candidate):
            if any((root / folder).is_dir() for folder in FOLDER_CLASSES):
                return root
    raise PhotosNotFoundError(f"no clothing photo folders ({', '.join(FOLDER_CLASSES)}) under "
                              f"{', '.join(str(c) for c in candidates if c)}")


def list_photos(root: Path) -> list[tuple[str, Path]]:
    """(folder, path) of every photo in a known folder, in a stable order."""
    found = []
    for folder in sorted(FOLDER_CLASSES):
        directory = root / folder
        if directory.is_dir():
            found.extend((folder, path) for path in sorted(directory.iterdir())
                         if path.suffix.lower() in PHOTO_SUFFIXES)
    return found


def allowed_mask(folder: str) -> np.ndarray:
    mask = np.zeros(NUM_CLASSES, dtype=bool)
    mask[list(FOLDER_CLASSES[folder])] = True
    return mask


def preprocessing_fingerprint() -> str:
    """sha256 of the pre-processing code: the cache is only valid for the code that made it."""
    digest = hashlib.sha256()
    for name in PREPROCESSING_SOURCES:
        digest.update((config.REPO_ROOT / name).read_bytes())
    return digest.hexdigest()


def _photo_to_array(path: Path) -> np.ndarray:
    return image_to_model_array(path.read_bytes())


def preprocess_photos(paths: list[Path], workers: int | None = None) -> np.ndarray:
    """(N, 28, 28) uint8: each photo through the server's pre-processing, on every core."""
    if not paths:
        return np.zeros((0, MODEL_SIDE, MODEL_SIDE), dtype=np.uint8)
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        return np.stack(list(pool.map(_photo_to_array, paths, chunksize=32)))


def load_photos(photos_dir: Path | None = None, cache_dir: Path | None = None) -> PhotoSet:
    """Every usable photo as model arrays, from the cache when the photos and the code are unchanged."""
    root = find_photos_root(photos_dir)
    cache_dir = CACHE_DIR if cache_dir is None else cache_dir
    listed = list_photos(root)
    key = hashlib.sha256((preprocessing_fingerprint() + str(root.resolve())
                          + "".join(f"{f}/{p.name}:{p.stat().st_size}" for f, p in listed)).encode())
    cache = cache_dir / f"photos-{key.hexdigest()[:16]}.npz"
    folders = np.array([folder for folder, _ in listed])
    files = np.array([str(path.relative_to(root)) for _, path in listed])
    allowed = np.stack([allowed_mask(folder) for folder in folders]) if listed else np.zeros((0, NUM_CLASSES), bool)
    if cache.is_file():
        images = np.load(cache)["images"]
        logger.info("loaded %d photo arrays from %s", len(images), cache)
    else:
        logger.info("pre-processing %d photos from %s", len(listed), root)
        images = preprocess_photos([path for _, path in listed])
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, images=images)
    return PhotoSet(images, allowed, folders, files)


def split_photos(photos: PhotoSet, validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
                 seed: int = DEFAULT_SPLIT_SEED) -> tuple[PhotoSet, PhotoSet]:
    """A seeded split, stratified by folder: (training, validation). The same seed gives the same split."""
    rng = np.random.default_rng(seed)
    validation = []
    for folder in sorted(set(photos.folders.tolist())):
        members = np.flatnonzero(photos.folders == folder)
        rng.shuffle(members)
        validation.extend(members[:round(len(members) * validation_fraction)].tolist())
    is_validation = np.zeros(len(photos), dtype=bool)
    is_validation[validation] = True
    return photos.subset(np.flatnonzero(~is_validation)), photos.subset(np.flatnonzero(is_validation))


def is_right(probabilities: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Top-1 counts as right when it is one of the photo's allowed classes (any footwear for shoes)."""
    return allowed[np.arange(len(allowed)), np.argmax(probabilities, axis=1)]
