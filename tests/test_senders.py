"""training/senders.py: the photos split by who took them, so validation and the final check measure people
the model has never seen."""

from __future__ import annotations

import numpy as np

from training.photos import PhotoSet
from training.senders import LARGE_SENDER, assign_senders, fitted_photos, split_by_sender


def photos_of(senders: list[str]) -> PhotoSet:
    count = len(senders)
    return PhotoSet(
        np.zeros((count, 28, 28), np.uint8),
        np.ones((count, 10), bool),
        np.array(["t-shirt"] * count),
        np.array([f"t-shirt/{i}.jpg" for i in range(count)]),
        senders=np.array(senders),
    )


def many_senders(rng: np.random.Generator, senders: int = 120) -> list[str]:
    return [str(sender) for sender in range(senders) for _ in range(int(rng.integers(1, 15)))]


def test_no_sender_has_photos_in_two_parts_and_every_photo_is_in_one():
    photos = photos_of(many_senders(np.random.default_rng(0)))
    parts = split_by_sender(photos)
    seen = [set(part.senders.tolist()) for part in parts.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert sum(len(part) for part in parts.values()) == len(photos)


def test_each_held_out_part_is_near_its_share():
    photos = photos_of(many_senders(np.random.default_rng(1), senders=300))
    parts = split_by_sender(photos, validation_share=0.15, final_share=0.15)
    for part in ("validation", "final_check"):
        assert 0.11 < len(parts[part]) / len(photos) < 0.19, (part, len(parts[part]))


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    photos = photos_of(many_senders(np.random.default_rng(2)))
    first, again = split_by_sender(photos, seed=3), split_by_sender(photos, seed=3)
    other = split_by_sender(photos, seed=4)
    assert list(first["validation"].files) == list(again["validation"].files)
    assert list(first["validation"].files) != list(other["validation"].files)


def test_a_large_sender_always_trains():
    keys = np.array(["big"] * (LARGE_SENDER + 1) + [str(i) for i in range(200)])
    for seed in range(5):
        assert assign_senders(keys, seed=seed)["big"] == "train"


def test_a_senders_part_does_not_depend_on_which_folders_a_run_loads():
    """The shares are of the whole dataset's photos (the population), so leaving out some folders' photos
    (the none-of-the-ten ones, say) leaves every sender where it was."""
    senders = many_senders(np.random.default_rng(5))
    everyone = split_by_sender(photos_of(senders), population=senders)
    some = photos_of(senders).subset(np.arange(0, len(senders), 3))
    fewer = split_by_sender(some, population=senders)
    for part in ("train", "validation", "final_check"):
        assert set(fewer[part].senders.tolist()) <= set(everyone[part].senders.tolist())


def test_photos_of_unknown_senders_count_as_their_own_sender():
    photos = photos_of([""] * 40)
    parts = split_by_sender(photos)
    assert sum(len(part) for part in parts.values()) == 40
    assert len(parts["validation"]) > 0 and len(parts["final_check"]) > 0


def test_a_refit_learns_from_the_validation_senders_too_and_never_from_the_final_check():
    parts = split_by_sender(photos_of(many_senders(np.random.default_rng(6))))
    assert list(fitted_photos(parts, refit=False).files) == list(parts["train"].files)
    refit = fitted_photos(parts, refit=True)
    assert list(refit.files) == list(parts["train"].files) + list(parts["validation"].files)
    assert list(refit.senders) == list(parts["train"].senders) + list(parts["validation"].senders)
    assert len(refit.images) == len(refit.allowed) == len(refit)
    assert not set(refit.senders.tolist()) & set(parts["final_check"].senders.tolist())
