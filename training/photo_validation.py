"""The real-photo validation split, as the evaluation measures it: which photos, and a sheet of the failures.

The split is the one training selected the model on (seed and fraction from the model's training record),
else training.photos' defaults. Without the photos the evaluation goes on without this section.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from training.contact_sheet import BACKGROUND, save_contact_sheet
from training.photos import (
    DEFAULT_SPLIT_SEED,
    DEFAULT_VALIDATION_FRACTION,
    FOLDER_CLASSES,
    PhotoSet,
    PhotosNotFoundError,
    find_photos_root,
    is_right,
    load_photos,
    split_photos,
)

logger = logging.getLogger(__name__)

FAILURES_SHOWN = 96
SHEET_COLUMNS = 12


class ValidationPhotos(NamedTuple):
    """The validation split and how it was drawn (recorded in the metrics beside its figures)."""
    photos: PhotoSet
    settings: dict


def split_settings(record: dict | None) -> dict:
    """Seed and fraction of the split the model was selected on, so the figure is on photos it never trained on."""
    recorded = ((record or {}).get("data") or {}).get("photos") or {}
    if "split_seed" in recorded and "validation_fraction" in recorded:
        return {"split_seed": int(recorded["split_seed"]),
                "validation_fraction": float(recorded["validation_fraction"]), "split_from": "training record"}
    return {"split_seed": DEFAULT_SPLIT_SEED, "validation_fraction": DEFAULT_VALIDATION_FRACTION,
            "split_from": "training.photos defaults"}


def directory_name(root: Path) -> str:
    """The photos' folder as the card names it: no absolute path of this machine ('clothing-photos/train')."""
    return f"{root.parent.name}/{root.name}" if root.name == "train" else root.name


def load_validation_photos(photos_dir: Path | None, record: dict | None) -> ValidationPhotos | None:
    """The validation split of the clothing photos, or None (with a warning) when no photo folder is found."""
    try:
        root = find_photos_root(photos_dir)
    except PhotosNotFoundError as error:
        logger.warning("photo validation skipped: %s", error)
        return None
    settings = split_settings(record)
    _, validation = split_photos(load_photos(root), settings["validation_fraction"], settings["split_seed"])
    logger.info("photo validation split: %d photos (seed %d, fraction %g, from the %s)", len(validation),
                settings["split_seed"], settings["validation_fraction"], settings["split_from"])
    return ValidationPhotos(validation, {"directory": directory_name(root), **settings})


def failure_order(probabilities: np.ndarray, photos: PhotoSet, limit: int = FAILURES_SHOWN) -> list[list[int]]:
    """Indices of the wrong photos per folder (FOLDER_CLASSES order), most confident mistakes first, at most
    `limit` in all, shared out so that a folder with many failures does not crowd the others out."""
    wrong = ~is_right(probabilities, photos.allowed)
    confidence = np.asarray(probabilities).max(axis=1)
    queues = [sorted(np.flatnonzero(wrong & (photos.folders == folder)).tolist(), key=lambda i: -confidence[i])
              for folder in FOLDER_CLASSES]
    taken = [0] * len(queues)
    while sum(taken) < limit and any(t < len(q) for t, q in zip(taken, queues, strict=True)):
        for position, queue in enumerate(queues):
            if taken[position] < len(queue) and sum(taken) < limit:
                taken[position] += 1
    return [queue[:count] for queue, count in zip(queues, taken, strict=True) if count]


def failure_caption(folder: str, probabilities: np.ndarray, names: Sequence[str]) -> str:
    """'pants ->' over 'Bag 0.71': the folder, then the class the model answered and its probability.

    ASCII only: the contact sheet's default font has no arrow glyph.
    """
    answer = int(np.argmax(probabilities))
    return f"{folder} ->\n{names[answer]} {float(probabilities[answer]):.2f}"


def save_photo_failures(probabilities: np.ndarray, photos: PhotoSet, names: Sequence[str], path: Path,
                        limit: int = FAILURES_SHOWN) -> int:
    """A contact sheet of the misclassified photos, each folder starting a new row; returns how many it shows."""
    blank = np.full(photos.images.shape[1:], BACKGROUND, dtype=np.uint8)
    tiles, captions, shown = [], [], 0
    for indices in failure_order(probabilities, photos, limit):
        padding = -len(tiles) % SHEET_COLUMNS
        tiles += [blank] * padding
        captions += [""] * padding
        tiles += [photos.images[i] for i in indices]
        captions += [failure_caption(str(photos.folders[i]), probabilities[i], names) for i in indices]
        shown += len(indices)
    arrays = np.stack(tiles) if tiles else np.zeros((0, *photos.images.shape[1:]), dtype=np.uint8)
    save_contact_sheet(arrays, captions, path, columns=SHEET_COLUMNS)
    return shown
