"""Real clothing photos (clothing-dataset-small's layout) as the inputs the server shows its two networks.

Every photo goes through core.images.image_to_model_inputs, the server's own pre-processing, so the 28×28 array
and the 64×64 colour crop a photo is trained and judged on are exactly what POST /model/predict would show the
networks (train/serve parity). A folder may name several Fashion-MNIST classes ("shoes" is any footwear):
each photo carries the set of classes that count as right, as a boolean mask. Beside train/, an extra/ folder
of more labels (hoodie, blazer, polo, ...) is read when it is there, and senders.tsv says who took each photo:
the split for model selection and the final check holds out whole senders (training/senders.py).
The arrays are cached under artifacts/, keyed by the photos and by the pre-processing code, so a change to either
rebuilds them.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

import config
from core.images import MODEL_SIDE, image_to_model_inputs
from core.labels import NUM_CLASSES
from core.photo_crop import PHOTO_CHANNELS, PHOTO_SIDE

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
# extra/ (labels of the full clothing-dataset that clothing-dataset-small lacks; its README's table): the first
# real photos of Pullover and Coat. A zipped hoodie may be a Coat; a knitted blouse a Pullover.
EXTRA_FOLDER_CLASSES: dict[str, tuple[int, ...]] = {
    "hoodie": (2, 4),
    "blazer": (4,),
    "polo": (0, 6),
    "undershirt": (0,),
    "top": (0,),
    "blouse": (0, 2, 6),
}
ALL_FOLDER_CLASSES = {**FOLDER_CLASSES, **EXTRA_FOLDER_CLASSES}
# Folders of clothing-dataset-small that show none of the ten classes: what the "none of the ten" output learns
# from (training/train_none.py). Their photos carry an all-False allowed mask.
NONE_FOLDERS: tuple[str, ...] = ("hat", "shorts", "skirt")
# Footwear photos whose kind is plain (sneakers, sandals, boots), labelled by looking at each one; the others
# (dress shoes, pumps, flats, slippers, clogs) stay "any footwear". Without these the set loss let both networks
# call every shoe photo a Sandal.
SHOE_KINDS_FILE = config.REPO_ROOT / "training" / "shoe_kinds.tsv"
EXTRA_DIR = "extra"
SENDERS_FILE = "senders.tsv"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
DEFAULT_PHOTOS_DIR = config.REPO_ROOT.parent / "shared" / "datasets" / "clothing-photos"
CACHE_DIR = config.REPO_ROOT / "artifacts" / "photo-arrays"
# The modules whose code decides what a photo becomes: a change to any of them rebuilds the cache.
PREPROCESSING_SOURCES = (
    "core/images.py",
    "core/background.py",
    "core/skin.py",
    "core/components.py",
    "core/garment_box.py",
    "core/photo_crop.py",
    "core/tilt.py",
    "core/worn_top.py",
)


class PhotosNotFoundError(FileNotFoundError):
    """No folder of the known names under the photo directory."""


@dataclass(frozen=True)
class PhotoSet:
    """Photos as model inputs: images (N, 28, 28) uint8, allowed (N, 10) bool, folder name and path each; the
    colour crops (N, 64, 64, 3) uint8 and each photo's sender ("" when unknown) and kids flag."""

    images: np.ndarray
    allowed: np.ndarray
    folders: np.ndarray
    files: np.ndarray
    crops: np.ndarray | None = None
    senders: np.ndarray | None = None
    kids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray) -> PhotoSet:
        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[indices]

        return PhotoSet(
            self.images[indices],
            self.allowed[indices],
            self.folders[indices],
            self.files[indices],
            pick(self.crops),
            pick(self.senders),
            pick(self.kids),
        )

    def joined(self, other: PhotoSet) -> PhotoSet:
        """This set's photos, then the other's."""

        def join(mine: np.ndarray | None, theirs: np.ndarray | None) -> np.ndarray | None:
            return None if mine is None or theirs is None else np.concatenate([mine, theirs])

        return PhotoSet(*(join(getattr(self, f.name), getattr(other, f.name)) for f in fields(PhotoSet)))


def add_photos_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The --photos-dir flag of every training script, with the environment fallback."""
    parser.add_argument(
        "--photos-dir",
        type=Path,
        default=None,
        help="clothing-dataset-small checkout (its train/<folder>/*.jpg), or a folder of "
        "<folder>/*.jpg (default: $CLOTHING_PHOTOS_DIR, then ../shared/datasets/clothing-photos)",
    )


def find_photos_root(explicit: Path | None = None) -> Path:
    """The folder whose sub-folders are the dataset's class folders (the train/ split when there is one)."""
    candidates = [explicit, os.environ.get("CLOTHING_PHOTOS_DIR"), DEFAULT_PHOTOS_DIR]
    for candidate in (Path(c) for c in candidates if c):
        for root in (candidate / "train", candidate):
            if any((root / folder).is_dir() for folder in FOLDER_CLASSES):
                return root
    raise PhotosNotFoundError(
        f"no clothing photo folders ({', '.join(FOLDER_CLASSES)}) under {', '.join(str(c) for c in candidates if c)}"
    )


def list_photos(root: Path, extra: bool = True, none_of_the_ten: bool = False) -> list[tuple[str, Path]]:
    """(folder, path) of every photo in a known folder, in a stable order; then those of extra/ beside a
    train/ root (when `extra`). With `none_of_the_ten`, the photos of NONE_FOLDERS instead."""
    found = []
    folders = [(root, folder) for folder in sorted(NONE_FOLDERS if none_of_the_ten else FOLDER_CLASSES)]
    if extra and root.name == "train" and not none_of_the_ten:
        folders += [(root.parent / EXTRA_DIR, folder) for folder in sorted(EXTRA_FOLDER_CLASSES)]
    for parent, folder in folders:
        directory = parent / folder
        if directory.is_dir():
            found.extend(
                (folder, path) for path in sorted(directory.iterdir()) if path.suffix.lower() in PHOTO_SUFFIXES
            )
    return found


def relative_name(root: Path, path: Path) -> str:
    """'t-shirt/x.jpg' for a photo of train/, 'extra/hoodie/x.jpg' for one of extra/."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path.relative_to(root.parent))


def allowed_mask(folder: str) -> np.ndarray:
    mask = np.zeros(NUM_CLASSES, dtype=bool)
    mask[list(ALL_FOLDER_CLASSES.get(folder, ()))] = True  # none of the ten: no class is right
    return mask


def read_shoe_kinds(path: Path = SHOE_KINDS_FILE) -> dict[str, int]:
    """Photo id → its one Fashion-MNIST footwear class (training/shoe_kinds.tsv)."""
    if not path.is_file():
        return {}
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return {image: int(class_id) for image, class_id, *_ in rows}


def allowed_masks(listed: list[tuple[str, Path]], kinds: dict[str, int]) -> np.ndarray:
    """(N, 10) bool: each photo's folder's classes, or its one class where its kind was labelled."""
    masks = np.zeros((len(listed), NUM_CLASSES), dtype=bool)
    for row, (folder, path) in enumerate(listed):
        if path.stem in kinds:
            masks[row, kinds[path.stem]] = True
        else:
            masks[row] = allowed_mask(folder)
    return masks


def read_senders(root: Path) -> dict[str, tuple[str, bool]]:
    """Photo id → (sender id, kids) from senders.tsv beside train/ (empty when there is none)."""
    table = root.parent / SENDERS_FILE
    if not table.is_file():
        return {}
    senders = {}
    for line in table.read_text().splitlines()[1:]:
        image, sender, kids = line.split("\t")
        senders[image] = (sender, kids.strip() == "True")
    return senders


def preprocessing_fingerprint() -> str:
    """sha256 of the pre-processing code: the cache is only valid for the code that made it."""
    digest = hashlib.sha256()
    for name in PREPROCESSING_SOURCES:
        digest.update((config.REPO_ROOT / name).read_bytes())
    return digest.hexdigest()


def all_senders(photos_dir: Path | None = None) -> list[str]:
    """The sender of every photo senders.tsv lists (one entry per photo), the population of the split."""
    try:
        root = find_photos_root(photos_dir)
    except PhotosNotFoundError:
        return []
    return [sender for sender, _ in read_senders(root).values()]


def _photo_to_inputs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    inputs = image_to_model_inputs(path.read_bytes())
    return inputs.array, inputs.photo


def preprocess_photo_inputs(paths: list[Path], workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) and (N, 64, 64, 3) uint8: each photo through the server's pre-processing, on every core."""
    if not paths:
        return (
            np.zeros((0, MODEL_SIDE, MODEL_SIDE), dtype=np.uint8),
            np.zeros((0, PHOTO_SIDE, PHOTO_SIDE, PHOTO_CHANNELS), dtype=np.uint8),
        )
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        arrays, crops = zip(*pool.map(_photo_to_inputs, paths, chunksize=32), strict=True)
    return np.stack(arrays), np.stack(crops)


def preprocess_photos(paths: list[Path], workers: int | None = None) -> np.ndarray:
    """(N, 28, 28) uint8: each photo through the server's pre-processing, on every core."""
    return preprocess_photo_inputs(paths, workers)[0]


def load_photos(
    photos_dir: Path | None = None, cache_dir: Path | None = None, none_of_the_ten: bool = False
) -> PhotoSet:
    """Every usable photo as model arrays, from the cache when the photos and the code are unchanged. With
    `none_of_the_ten`, the photos of NONE_FOLDERS (their allowed masks all False) instead of the garments."""
    root = find_photos_root(photos_dir)
    cache_dir = CACHE_DIR if cache_dir is None else cache_dir
    listed = list_photos(root, none_of_the_ten=none_of_the_ten)
    key = hashlib.sha256(
        (
            preprocessing_fingerprint()
            + str(root.resolve())
            + "".join(f"{f}/{p.name}:{p.stat().st_size}" for f, p in listed)
        ).encode()
    )
    cache = cache_dir / f"photos-{key.hexdigest()[:16]}.npz"
    folders = np.array([folder for folder, _ in listed])
    files = np.array([relative_name(root, path) for _, path in listed])
    allowed = allowed_masks(listed, read_shoe_kinds())
    if cache.is_file():
        with np.load(cache) as cached:
            images, crops = cached["images"], cached["crops"]
        logger.info("loaded %d photo arrays from %s", len(images), cache)
    else:
        logger.info("pre-processing %d photos from %s", len(listed), root)
        images, crops = preprocess_photo_inputs([path for _, path in listed])
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, images=images, crops=crops)
    known = read_senders(root)
    senders = np.array([known.get(path.stem, ("", False))[0] for _, path in listed], dtype=str)
    kids = np.array([known.get(path.stem, ("", False))[1] for _, path in listed], dtype=bool)
    return PhotoSet(images, allowed, folders, files, crops, senders, kids)


def is_right(probabilities: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Top-1 counts as right when it is one of the photo's allowed classes (any footwear for shoes)."""
    return allowed[np.arange(len(allowed)), np.argmax(probabilities, axis=1)]
