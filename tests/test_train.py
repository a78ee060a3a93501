"""The training recipe end to end on a few images: the set loss, the epoch mix, a checkpoint that resumes,
and a record that names the exact arguments and the model file it describes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import config
from core.checksum import sha256_of
from tests.imaging import extent
from training.dataset import default_data_dir
from training.mixing import BAG, AllowedClassesLoss, epoch_data, jitter_brightness, narrow_bags, one_hot_masks

needs_dataset = pytest.mark.skipif(
    not (default_data_dir() / "train-images-idx3-ubyte.gz").is_file(),
    reason="the Fashion-MNIST IDX files are not in FASHION_MNIST_DIR",
)


def test_set_loss_is_minus_log_of_the_allowed_probability_mass():
    probabilities = np.array([[0.1, 0.2, 0.7, 0, 0, 0, 0, 0, 0, 0], [0.5, 0.3, 0.2, 0, 0, 0, 0, 0, 0, 0]], np.float32)
    allowed = np.zeros((2, 10), np.float32)
    allowed[0, 2] = 1.0  # one class: plain cross-entropy
    allowed[1, [1, 2]] = 1.0  # a set: -log(0.3 + 0.2)
    losses = np.asarray(AllowedClassesLoss(reduction=None)(allowed, probabilities))
    np.testing.assert_allclose(losses, [-np.log(0.7), -np.log(0.5)], rtol=1e-5)


def test_label_smoothing_mixes_in_the_uniform_cross_entropy():
    probabilities = np.full((1, 10), 0.1, np.float32)
    allowed = one_hot_masks(np.array([3]))
    loss = float(np.asarray(AllowedClassesLoss(smoothing=0.2, reduction=None)(allowed, probabilities))[0])
    assert loss == pytest.approx(-np.log(0.1))  # uniform prediction: both parts equal -log 0.1


def test_an_epoch_holds_every_image_once_and_each_photo_repeat_times():
    rng = np.random.default_rng(0)
    fashion = np.full((50, 28, 28), 7, np.uint8)
    photos = np.full((4, 28, 28), 200, np.uint8)
    allowed = np.zeros((4, 10), bool)
    allowed[:, [5, 7, 9]] = True
    images, targets = epoch_data(fashion, np.zeros(50, np.int64), photos, allowed, 3, rng, 0.4, (0.6, 1.2))
    assert images.shape == (62, 28, 28) and targets.shape == (62, 10)
    assert int(targets[:, 0].sum()) == 50 and int(targets[:, 5].sum()) == 12 == int(targets[:, 9].sum())
    assert (images[targets[:, 0] == 1] == 7).all()  # Fashion-MNIST images are not jittered


def test_brightness_jitter_keeps_the_background_black_and_varies_the_garment():
    images = np.zeros((200, 28, 28), np.uint8)
    images[:, 10:20, 10:20] = 150
    jittered = jitter_brightness(images, np.random.default_rng(1), 0.4, (0.6, 1.2))
    assert (jittered[:, :10] == 0).all()
    levels = jittered[:, 15, 15]
    assert levels.min() < 110 and levels.max() > 170


def test_a_wide_bag_is_made_upright_with_its_longest_side_refitted_to_28_px():
    bag = np.zeros((1, 28, 28), np.uint8)
    bag[0, 8:20, 0:28] = 180  # a handbag: 12 high, 28 wide
    bag[0, 4:8, 10:18] = 90  # its handle
    upright = narrow_bags(bag, np.array([BAG]), 1.0, np.random.default_rng(0))[0]
    top, bottom, left, right = extent(upright)
    height, width = bottom - top + 1, right - left + 1
    assert height == 28 and 28 / 1.5 - 1 <= width <= 28  # height/width within TALL_BAG_ASPECT
    assert abs((28 - width) / 2 - left) <= 1  # centred
    assert upright.max() == 180 and (upright == 90).any()  # the same bag, handle included


def test_only_the_chosen_share_of_bags_changes_and_nothing_else():
    images = np.zeros((400, 28, 28), np.uint8)
    images[:, 8:20, :] = 150
    labels = np.repeat(np.arange(10), 40)
    out = narrow_bags(images, labels, 0.5, np.random.default_rng(3))
    changed = (out != images).any(axis=(1, 2))
    assert not changed[labels != BAG].any()
    assert 10 <= changed[labels == BAG].sum() <= 30
    assert (narrow_bags(images, labels, 0.0, np.random.default_rng(3)) == images).all()
    blank = np.zeros((1, 28, 28), np.uint8)
    assert (narrow_bags(blank, np.array([BAG]), 1.0, np.random.default_rng(0)) == 0).all()


@needs_dataset
def test_training_resumes_from_its_checkpoint_and_records_what_it_used(tiny_photos, tmp_path):
    from training.train import main

    output = tmp_path / "model" / "net.h5"
    common = [
        "--limit-train",
        "256",
        "--val-size",
        "100",
        "--widths",
        "8,16",
        "--dense-units",
        "16",
        "--photos-dir",
        str(tiny_photos),
        "--photo-repeats",
        "2",
        "--checkpoint-dir",
        str(tmp_path / "checkpoint"),
        "--output",
        str(output),
    ]
    main([*common, "--epochs", "1"])
    first = json.loads((tmp_path / "model" / "net.training.json").read_text())
    assert [entry["epoch"] for entry in first["history"]] == [1]
    main([*common, "--epochs", "2", "--resume"])
    record = json.loads((tmp_path / "model" / "net.training.json").read_text())
    assert [entry["epoch"] for entry in record["history"]] == [1, 2]  # epoch 1 came from the checkpoint
    assert record["history"][0] == first["history"][0]
    assert record["model_sha256"] == sha256_of(output)
    assert record["arguments"]["widths"] == [8, 16] and record["arguments"]["epochs"] == 2
    assert record["command"].startswith("python -m training.train --limit-train 256")
    photos = record["data"]["photos"]
    # 8 photos of unknown senders, each its own: about 15 % validate, 15 % are the final check, none of it trains
    assert photos["validation_photos"] >= 1 and photos["train_photos"] + photos["validation_photos"] < 8
    assert photos["split"]["by"] == "sender"
    assert photos["folder_classes"]["shoes"] == [5, 7, 9]
    assert 0.0 <= record["selection"]["photo_validation_accuracy"] <= 1.0


@needs_dataset
def test_a_refit_learns_from_the_validation_photos_and_keeps_the_last_epoch(tiny_photos, tmp_path):
    """With --refit the validation senders' photos are trained on, so they cannot choose the epoch: the last
    one is kept whatever the scores; the final check's photos still never train."""
    from training.photos import all_senders, load_photos
    from training.senders import split_by_sender
    from training.train import main

    output = tmp_path / "net.h5"
    small = ["--limit-train", "256", "--val-size", "100", "--widths", "8,16", "--dense-units", "16", "--epochs", "3"]
    paths = ["--photos-dir", str(tiny_photos), "--checkpoint-dir", str(tmp_path / "ckpt"), "--output", str(output)]
    main([*small, *paths, "--refit"])
    record = json.loads((tmp_path / "net.training.json").read_text())
    photos = record["data"]["photos"]
    parts = split_by_sender(load_photos(tiny_photos), all_senders(tiny_photos))
    assert photos["refit"] is True and len(parts["validation"]) > 0
    assert photos["train_photos"] == len(parts["train"]) + len(parts["validation"])
    assert record["selection"]["best_epoch"] == 3
    assert record["arguments"]["refit"] is True


@needs_dataset
def test_two_runs_with_the_same_arguments_write_the_same_model_file(tiny_photos, tmp_path):
    """make train is reproducible: seeded data, augmentation and initialisation give the same weights, byte
    for byte on the same machine (another CPU may differ in the last bits of its arithmetic). Each run is
    its own process, as two `make train` runs are."""
    digests = []
    for run in ("first", "second"):
        output = tmp_path / run / "net.h5"
        train_in_a_process(
            [
                "--limit-train",
                "256",
                "--val-size",
                "100",
                "--widths",
                "8,16",
                "--dense-units",
                "16",
                "--epochs",
                "1",
                "--photos-dir",
                str(tiny_photos),
                "--photo-repeats",
                "2",
                "--checkpoint-dir",
                str(tmp_path / run / "checkpoint"),
                "--output",
                str(output),
                "--photo-cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        digests.append(sha256_of(output))
    assert digests[0] == digests[1]


def train_in_a_process(arguments: list[str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "training.train", *arguments],
        check=True,
        cwd=config.REPO_ROOT,
        capture_output=True,
        timeout=600,
    )
