"""The held-out real photos, as the evaluation measures them: the sender-disjoint validation part and final
check (training/senders.py), and a sheet of the failures.

Validation picked the epochs and the recipe; the final check tuned nothing and is read once per candidate
model, by `make evaluate`. Without the photos the evaluation goes on without these sections.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from training.contact_sheet import BACKGROUND, save_contact_sheet
from training.photos import (
    ALL_FOLDER_CLASSES,
    PhotoSet,
    PhotosNotFoundError,
    all_senders,
    find_photos_root,
    is_right,
    load_photos,
)
from training.senders import split_by_sender, split_record

logger = logging.getLogger(__name__)

FAILURES_SHOWN = 96
SHEET_COLUMNS = 8
TILE_SIDE = 84  # each failure: its colour crop and its 28×28 array, side by side at this size
HELD_OUT_PARTS = ("validation", "final_check")


class ValidationPhotos(NamedTuple):
    """One held-out part and how it was drawn (recorded in the metrics beside its figures)."""

    photos: PhotoSet
    settings: dict


def split_settings() -> dict:
    """How the held-out parts are drawn (whole senders, their shares, the seed): the training record's
    senders.split_record(), in the metrics' keys ("split": "by sender", "split_seed")."""
    record = split_record()
    return {"split": f"by {record.pop('by')}", "split_seed": record.pop("seed"), **record}


def directory_name(root: Path) -> str:
    """The photos' folder as the card names it: no absolute path of this machine ('clothing-photos/train')."""
    return f"{root.parent.name}/{root.name}" if root.name == "train" else root.name


def load_held_out_photos(photos_dir: Path | None) -> dict[str, ValidationPhotos] | None:
    """{'validation', 'final_check'} → that part of the clothing photos, or None (with a warning) when no photo
    folder is found."""
    try:
        root = find_photos_root(photos_dir)
    except PhotosNotFoundError as error:
        logger.warning("photo validation skipped: %s", error)
        return None
    parts = split_by_sender(load_photos(root), all_senders(root))
    held_out = {}
    for part in HELD_OUT_PARTS:
        photos = parts[part]
        held_out[part] = ValidationPhotos(
            photos,
            {
                "directory": directory_name(root),
                "part": part,
                "senders": len(set(photos.senders.tolist())),
                **split_settings(),
            },
        )
        logger.info("photo %s: %d photos of %d senders", part, len(photos), held_out[part].settings["senders"])
    return held_out


def failure_order(probabilities: np.ndarray, photos: PhotoSet, limit: int = FAILURES_SHOWN) -> list[list[int]]:
    """Indices of the wrong photos per folder (ALL_FOLDER_CLASSES order), most confident mistakes first, at most
    `limit` in all, shared out so that a folder with many failures does not crowd the others out."""
    wrong = ~is_right(probabilities, photos.allowed)
    confidence = np.asarray(probabilities).max(axis=1)
    queues = [
        sorted(np.flatnonzero(wrong & (photos.folders == folder)).tolist(), key=lambda i: -confidence[i])
        for folder in ALL_FOLDER_CLASSES
    ]
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


def failure_tile(photos: PhotoSet, index: int) -> np.ndarray:
    """(84, 168, 3): what the two networks saw, the colour crop (when there is one) beside the 28×28 array."""
    array = Image.fromarray(photos.images[index], mode="L").resize((TILE_SIDE, TILE_SIDE), Image.NEAREST)
    crop = (
        Image.fromarray(photos.crops[index], mode="RGB").resize((TILE_SIDE, TILE_SIDE), Image.BILINEAR)
        if photos.crops is not None
        else Image.new("RGB", (TILE_SIDE, TILE_SIDE), (BACKGROUND,) * 3)
    )
    return np.concatenate([np.asarray(crop), np.asarray(array.convert("RGB"))], axis=1)


def save_photo_failures(
    probabilities: np.ndarray, photos: PhotoSet, names: Sequence[str], path: Path, limit: int = FAILURES_SHOWN
) -> int:
    """A contact sheet of the misclassified photos, each folder starting a new row; returns how many it shows."""
    blank = np.full((TILE_SIDE, 2 * TILE_SIDE, 3), BACKGROUND, dtype=np.uint8)
    tiles, captions, shown = [], [], 0
    for indices in failure_order(probabilities, photos, limit):
        padding = -len(tiles) % SHEET_COLUMNS
        tiles += [blank] * padding
        captions += [""] * padding
        tiles += [failure_tile(photos, i) for i in indices]
        captions += [failure_caption(str(photos.folders[i]), probabilities[i], names) for i in indices]
        shown += len(indices)
    arrays = np.stack(tiles) if tiles else np.zeros((0, *blank.shape), dtype=np.uint8)
    save_contact_sheet(arrays, captions, path, columns=SHEET_COLUMNS, scale=1)
    return shown
