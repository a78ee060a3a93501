"""Drawn backpacks (training/drawn_backpacks.py), and how the none-of-the-ten stage shows them."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from core.images import open_image
from core.labels import CLASS_NAMES
from training.drawn_backpacks import BAG, draw_backpack, drawn_backpacks
from training.photos import PhotoSet

COUNT = 8


@pytest.fixture(scope="module")
def backpacks() -> PhotoSet:
    return drawn_backpacks(COUNT)


def object_extent(array: np.ndarray, level: int = 40) -> tuple[int, int]:
    rows, cols = np.flatnonzero((array > level).any(axis=1)), np.flatnonzero((array > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_every_drawing_is_a_bag_and_nothing_else(backpacks):
    assert CLASS_NAMES[BAG] == "Bag"
    assert backpacks.allowed.shape == (COUNT, len(CLASS_NAMES))
    assert backpacks.allowed[:, BAG].all() and backpacks.allowed.sum() == COUNT


def test_they_are_made_by_the_served_pre_processing_in_both_networks_shapes(backpacks):
    assert backpacks.images.shape == (COUNT, 28, 28) and backpacks.images.dtype == np.uint8
    assert backpacks.crops.shape == (COUNT, 64, 64, 3) and backpacks.crops.dtype == np.uint8
    assert len(set(backpacks.files)) == COUNT


def test_the_same_backpacks_are_drawn_on_every_run(backpacks):
    again = drawn_backpacks(COUNT)
    assert (again.images == backpacks.images).all() and (again.crops == backpacks.crops).all()
    assert not (drawn_backpacks(COUNT, seed=1).images == backpacks.images).all()


def test_the_28_px_array_shows_an_upright_bag_on_black_as_fashion_mnist_would(backpacks):
    """Fashion-MNIST's bags are wider than tall; a backpack face-on is the other way round, which is the point."""
    extents = np.array([object_extent(array) for array in backpacks.images])
    assert (extents.max(axis=1) >= 26).all()  # fitted by its longest side, as Fashion-MNIST fits a product
    assert (extents[:, 0] > extents[:, 1]).mean() >= 0.75  # upright, but for a few with their straps spread
    assert (backpacks.images[:, 0, 0] < 30).all() and (backpacks.images[:, 14, 14] > 60).all()  # light bag on black


def test_a_drawing_is_a_camera_jpeg_of_a_bag_on_a_light_backdrop():
    data = draw_backpack(np.random.default_rng(5))
    image = open_image(data)
    assert image.format == "JPEG"
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    assert pixels[:8, :8].mean() > 190  # the backdrop
    height, width = pixels.shape
    assert abs(pixels[height // 2, width // 2] - pixels[:8, :8].mean()) > 15  # the bag in the middle


def test_the_none_stage_shows_each_backpack_once_an_epoch_as_a_bag(backpacks):
    from training.mixing import one_hot_masks
    from training.train_none import Data, epoch_data, steps_per_epoch

    rng = np.random.default_rng(0)
    garments = PhotoSet(
        rng.integers(0, 255, (6, 28, 28), dtype=np.uint8),
        one_hot_masks(np.array([0, 1, 2, 3, 4, 6])) > 0,
        np.full(6, "t-shirt"),
        np.array([f"g{i}" for i in range(6)]),
    )
    outliers = PhotoSet(
        rng.integers(0, 255, (2, 28, 28), dtype=np.uint8),
        np.zeros((2, 10), bool),
        np.full(2, "hat"),
        np.array(["h0", "h1"]),
    )
    fashion_labels = np.array([0, 1, 2, 3])  # no bag among them
    data = Data.__new__(Data)
    data.fashion_train = (rng.integers(0, 255, (4, 28, 28), dtype=np.uint8), fashion_labels)
    data.photo_train, data.none_train, data.backpacks = garments, outliers, backpacks
    data.augmentation = argparse.Namespace(photo_gamma=0.0, photo_gain=[1.0, 1.0])
    args = argparse.Namespace(
        seed=1,
        fashion_per_epoch=4,
        photo_repeats=2,
        none_repeats=1,
        network="fashion_mnist",
        tall_bags=0.0,
        batch_size=8,
    )
    inputs, targets = epoch_data(args, data, epoch=0)
    assert len(inputs) == 4 + 6 * 2 + 2 + COUNT
    bag_only = (targets[:, BAG] == 1) & (targets.sum(axis=1) == 1)
    assert bag_only.sum() == COUNT
    assert steps_per_epoch(args, data) == -(-(4 + 12 + 2 + COUNT) // 8)
    data.backpacks = None
    inputs, targets = epoch_data(args, data, epoch=0)
    assert len(inputs) == 4 + 6 * 2 + 2 and not targets[:, BAG].any()
