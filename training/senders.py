"""The photos split by who took them: training, validation (model selection) and a final check.

Photos from one sender share a room, a floor, a camera and a way of laying clothes out, so a split of single
photos measures photos of people the model already knows. Here every sender's photos go to one part only:
validation picks epochs and compares recipes; the final check is read once per candidate model and tunes
nothing. The few senders with more than LARGE_SENDER photos always train: one of them in a held-out part would
make its figure a figure about one person. Senders are dealt out in a seeded order, each to the held-out part
furthest below its share of the photos, so both parts come out near their shares. The shares are of every
photo senders.tsv lists (all folders, the none-of-the-ten ones too), so a sender keeps its part whichever
folders a run loads. Photos without a known sender form one sender each.
"""

from __future__ import annotations

import argparse

import numpy as np

from training.photos import PhotoSet

VALIDATION_SHARE = 0.15
FINAL_CHECK_SHARE = 0.15
LARGE_SENDER = 100
SPLIT_SEED = 2026
PARTS = ("train", "validation", "final_check")


def split_record() -> dict:
    """How the split is made, as a training record keeps it (the model's .training.json)."""
    return {
        "by": "sender",
        "validation_share": VALIDATION_SHARE,
        "final_check_share": FINAL_CHECK_SHARE,
        "large_sender": LARGE_SENDER,
        "seed": SPLIT_SEED,
    }


def add_refit_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--refit, as both ten-class runs (training/train.py, training/train_photo.py) take it: see fitted_photos."""
    parser.add_argument(
        "--refit",
        action="store_true",
        help="learn from the validation senders' photos too and keep the last epoch: once a run without it has "
        "chosen the recipe and the number of epochs (the final check stays unread)",
    )


def fitted_photos(parts: dict[str, PhotoSet], refit: bool) -> PhotoSet:
    """The photos a network learns from: the training senders', and with `refit` the validation senders' too.
    A refit comes after validation has chosen the recipe and its number of epochs on a run without it; the final
    check stays unread either way."""
    return parts["train"].joined(parts["validation"]) if refit else parts["train"]


def sender_keys(photos: PhotoSet) -> np.ndarray:
    """Each photo's sender; a photo whose sender is unknown is its own."""
    if photos.senders is None:
        return np.array([f"photo:{name}" for name in photos.files])
    return np.array([sender or f"photo:{name}" for sender, name in zip(photos.senders, photos.files, strict=True)])


def assign_senders(
    keys: np.ndarray,
    validation_share: float = VALIDATION_SHARE,
    final_share: float = FINAL_CHECK_SHARE,
    seed: int = SPLIT_SEED,
) -> dict[str, str]:
    """Sender → part. Large senders train; the others, in a seeded order, fill validation and the final check
    up to their shares of all photos, the rest train."""
    names, counts = np.unique(keys, return_counts=True)
    total = counts.sum()
    targets = {"validation": validation_share * total, "final_check": final_share * total}
    filled = {"validation": 0, "final_check": 0}
    parts = {}
    for index in np.random.default_rng(seed).permutation(len(names)):
        name, count = str(names[index]), int(counts[index])
        hungriest = max(filled, key=lambda part: (targets[part] - filled[part]) / max(targets[part], 1))
        if count > LARGE_SENDER or filled[hungriest] + count / 2 > targets[hungriest]:
            parts[name] = "train"
        else:
            parts[name] = hungriest
            filled[hungriest] += count
    return parts


def split_by_sender(
    photos: PhotoSet,
    population: list[str] | None = None,
    validation_share: float = VALIDATION_SHARE,
    final_share: float = FINAL_CHECK_SHARE,
    seed: int = SPLIT_SEED,
) -> dict[str, PhotoSet]:
    """{'train', 'validation', 'final_check'} → the photos of that part; no sender is in two parts.
    `population`: the sender of every photo of the dataset (training.photos.all_senders), which sets the shares."""
    keys = sender_keys(photos)
    everyone = np.concatenate([np.array(population or [], dtype=str), keys[~np.isin(keys, population or [])]])
    parts = assign_senders(everyone, validation_share, final_share, seed)
    of_photo = np.array([parts[key] for key in keys])
    return {part: photos.subset(np.flatnonzero(of_photo == part)) for part in PARTS}
