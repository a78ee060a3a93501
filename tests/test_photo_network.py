"""The photo network's data (training/photo_network.py) and its training run (training/train_photo.py): Fashion-MNIST
drawn as catalogue photos, the augmentations, a seeded epoch, and a run that writes a servable model and its record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.checksum import sha256_of
from training.dataset import default_data_dir
from training.photo_network import (
    PHOTO_INPUT_SHAPE,
    augment,
    build_photo_network,
    draw_as_photos,
    jitter_colour,
    photo_epoch_data,
)

needs_dataset = pytest.mark.skipif(
    not (default_data_dir() / "train-images-idx3-ubyte.gz").is_file(),
    reason="the Fashion-MNIST IDX files are not in FASHION_MNIST_DIR",
)


def bright_square(count: int = 6) -> np.ndarray:
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 8:20, 8:20] = 230
    return images


def test_fashion_mnist_drawn_as_photos_is_a_dark_garment_on_a_light_background():
    drawn = draw_as_photos(bright_square(), np.random.default_rng(0))
    assert drawn.shape == (6, 64, 64, 3) and drawn.dtype == np.uint8
    corners = drawn[:, :6, :6].reshape(6, -1).mean(axis=1)
    middles = drawn[:, 28:36, 28:36].reshape(6, -1).mean(axis=1)
    assert (corners > 195).all() and (middles < 120).all()


def test_drawing_is_seeded_and_tints_vary():
    first = draw_as_photos(bright_square(40), np.random.default_rng(1))
    assert np.array_equal(first, draw_as_photos(bright_square(40), np.random.default_rng(1)))
    garment_colours = first[:, 28:36, 28:36].reshape(40, -1, 3).mean(axis=1)
    assert garment_colours.std(axis=0).min() > 3  # not one colour for all


def test_colour_jitter_can_make_an_image_grey_and_keeps_the_range():
    images = np.zeros((200, 8, 8, 3), np.uint8)
    images[..., 0] = 200
    jittered = jitter_colour(images, np.random.default_rng(2), 0.3, grey_share=0.5)
    grey = (jittered[..., 0] == jittered[..., 1]).all(axis=(1, 2))
    assert 60 < grey.sum() < 140
    assert jittered.dtype == np.uint8


def test_augment_keeps_the_shape_and_changes_the_pictures():
    crops = np.random.default_rng(3).integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    augmented = augment(crops, np.random.default_rng(4), min_scale=0.6, strength=0.3, grey_share=0.15)
    assert augmented.shape == crops.shape and not np.array_equal(augmented, crops)


def test_an_epoch_holds_each_crop_repeat_times_and_drawn_fashion_mnist_with_one_hot_targets():
    crops = np.zeros((4, 64, 64, 3), np.uint8)
    allowed = np.zeros((4, 10), bool)
    allowed[:, [5, 7, 9]] = True
    fashion = bright_square(30)
    labels = np.full(30, 8)
    images, targets = photo_epoch_data(crops, allowed, 2, fashion, labels, 10, np.random.default_rng(5), 0.6, 0.3, 0.1)
    assert images.shape == (18, 64, 64, 3) and targets.shape == (18, 10)
    assert int(targets[:, 8].sum()) == 10 and int(targets[:, 5].sum()) == 8
    again = photo_epoch_data(crops, allowed, 2, fashion, labels, 10, np.random.default_rng(5), 0.6, 0.3, 0.1)
    assert np.array_equal(images, again[0]) and np.array_equal(targets, again[1])


def test_the_photo_network_takes_a_colour_crop_and_gives_ten_probabilities():
    network = build_photo_network((8, 8, 16, 16))
    assert tuple(network.input_shape[1:]) == PHOTO_INPUT_SHAPE
    probabilities = np.asarray(network(np.zeros((2, *PHOTO_INPUT_SHAPE), np.float32)))
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@needs_dataset
def test_a_photo_network_run_resumes_and_records_what_it_used(tiny_photos, tmp_path):
    from training.train_photo import main

    output = tmp_path / "model" / "photo.h5"
    common = [
        "--widths",
        "4,8,8,8",
        "--fashion-per-epoch",
        "64",
        "--warmup-epochs",
        "0.5",
        "--photos-dir",
        str(tiny_photos),
        "--checkpoint-dir",
        str(tmp_path / "checkpoint"),
        "--output",
        str(output),
    ]
    main([*common, "--epochs", "1"])
    first = json.loads((tmp_path / "model" / "photo.training.json").read_text())
    main([*common, "--epochs", "2", "--resume"])
    record = json.loads((tmp_path / "model" / "photo.training.json").read_text())
    assert [entry["epoch"] for entry in record["history"]] == [1, 2]
    assert record["history"][0] == first["history"][0]  # epoch 1 came from the checkpoint
    assert record["model_sha256"] == sha256_of(output)
    assert record["command"].startswith("python -m training.train_photo --widths 4,8,8,8")
    assert record["data"]["photos"]["split"]["by"] == "sender"
    assert 0.0 <= record["selection"]["photo_validation_accuracy"] <= 1.0


def test_a_refit_learns_from_the_validation_photos_and_keeps_the_last_epoch(tiny_photos, tmp_path):
    """With --refit the validation senders' photos are trained on, so they cannot choose the epoch: the last
    one is kept whatever its validation score."""
    from training.photos import all_senders, load_photos
    from training.senders import split_by_sender
    from training.train_photo import main

    output = tmp_path / "photo.h5"
    arguments = ["--widths", "4,8,8,8", "--fashion-per-epoch", "32", "--epochs", "3", "--refit"]
    paths = ["--photos-dir", str(tiny_photos), "--checkpoint-dir", str(tmp_path / "ckpt"), "--output", str(output)]
    main([*arguments, *paths])
    record = json.loads((tmp_path / "photo.training.json").read_text())
    photos = record["data"]["photos"]
    assert photos["refit"] is True
    parts = split_by_sender(load_photos(tiny_photos), all_senders(tiny_photos))
    assert len(parts["validation"]) > 0
    assert photos["train_photos"] == len(parts["train"]) + len(parts["validation"])
    assert record["selection"]["best_epoch"] == 3
