"""Teach a trained network to say "none of the ten": an 11th output, fine-tuned with photos of hats, shorts and
skirts (training/photos.NONE_FOLDERS) as its examples.

Usage: python -m training.train_none --network fashion_mnist|photo [--base B] [--output O] [flags...]  (make train)
The base is the ten-class network training/train.py or training/train_photo.py wrote (make train puts it under
artifacts/ten-class/). Its last layer gets one more column, the ten columns keep their weights, and the network
is fine-tuned for a few epochs on what it was trained on (Fashion-MNIST and the garment photos, the same sender
split) plus the outlier photos, each target a mask over 11 outputs (the set loss of training/mixing.py): this is
outlier exposure (Hendrycks, Mazeika & Dietterich, 2019) with an extra class rather than a uniform target, which
measured better (../shared/notes/real-photos.md). The served score is p(none) (core/model.py); argmax over the
11 is never taken. The epoch is picked on the validation senders: garment accuracy and the AUROC of p(none),
garments against outliers. The written record keeps the base's own record, so the model card still says how the
ten classes were learned.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers
from sklearn.metrics import roc_auc_score

import config
from core.labels import NUM_CLASSES
from training import train_photo
from training.checkpoints import add_checkpoint_arguments, fit_one_epoch, resume_state, train_epochs
from training.dataset import add_data_dir_argument, load_split
from training.drawn_backpacks import drawn_backpacks
from training.mixing import jitter_brightness, narrow_bags, one_hot_masks
from training.photo_network import augment, draw_as_photos, to_photo_input
from training.photos import NONE_FOLDERS, PhotoSet, add_photos_dir_argument, all_senders, load_photos
from training.record import finish_training, read_training_record
from training.senders import fitted_photos, split_by_sender
from training.train import (
    add_optimisation_arguments,
    build_augmenter,
    compile_for_training,
    save_for_serving,
    split_train_validation,
    to_model_input,
    training_record,
)
from training.train import parse_args as ten_class_arguments

logger = logging.getLogger("training.train_none")

NETWORKS = ("fashion_mnist", "photo")
NONE_INDEX = NUM_CLASSES  # the 11th output
TEN_CLASS_DIR = config.REPO_ROOT / "artifacts" / "ten-class"
PREDICT_BATCH = 256
# Fashion-MNIST images per epoch: the photo network's own training drew 3 000 per epoch; the 28×28 network, which
# saw all 55 000 every epoch, gets more, so that its ten classes stay where they were.
FASHION_PER_EPOCH = {"fashion_mnist": 12000, "photo": 3000}
TALL_BAGS = 0.0  # share of each epoch's bags made upright (mixing.narrow_bags); 0.5 tried, not shipped (README)
DRAWN_BACKPACKS = 240  # backpacks drawn face-on (training/drawn_backpacks.py), each shown once per epoch as a Bag


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_photos_dir_argument(parser)
    parser.add_argument("--network", choices=NETWORKS, required=True, help="the 28×28 network or the photo network")
    parser.add_argument(
        "--base",
        type=Path,
        default=None,
        help="the ten-class network (default: artifacts/ten-class/<the served file's name>)",
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write it (default: the served file)")
    add_checkpoint_arguments(parser, None, "artifacts/training-none-<network>")
    add_optimisation_arguments(parser, epochs=10, batch_size=128, warmup_epochs=0.5, weight_decay=1e-4)
    parser.set_defaults(learning_rate=3e-4)
    parser.add_argument(
        "--none-bias",
        type=float,
        default=-4.0,
        help="the new output's starting bias: it starts rare, so the ten classes start as they were",
    )
    parser.add_argument(
        "--fashion-per-epoch",
        type=int,
        default=None,
        help="Fashion-MNIST training images per epoch, drawn as photos for the photo network "
        f"(default: {FASHION_PER_EPOCH})",
    )
    parser.add_argument(
        "--tall-bags",
        type=float,
        default=TALL_BAGS,
        help="share of each epoch's Fashion-MNIST bags narrowed to an upright shape, as a backpack face-on (0: none)",
    )
    parser.add_argument(
        "--drawn-backpacks",
        type=int,
        default=DRAWN_BACKPACKS,
        help="backpacks drawn face-on and put through the served pre-processing, each a Bag once per epoch (0: none)",
    )
    parser.add_argument("--photo-repeats", type=int, default=2, help="times each garment photo is seen per epoch")
    parser.add_argument("--none-repeats", type=int, default=2, help="times each outlier photo is seen per epoch")
    parser.add_argument(
        "--val-size",
        type=int,
        default=5000,
        help="Fashion-MNIST training images held back (the 28×28 network's split): never trained on",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="learn from the validation senders' garment photos too and keep the last epoch, as the base's "
        "--refit did (their none-of-the-ten photos stay held out: they choose the threshold)",
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    served = config.SETTINGS.photo_model_path if args.network == "photo" else config.SETTINGS.model_path
    args.output = args.output or served
    args.fashion_per_epoch = args.fashion_per_epoch or FASHION_PER_EPOCH[args.network]
    args.base = args.base or TEN_CLASS_DIR / served.name
    args.checkpoint_dir = args.checkpoint_dir or config.REPO_ROOT / "artifacts" / f"training-none-{args.network}"
    return args


def with_none_output(network: keras.Model, none_bias: float) -> keras.Model:
    """The network with an 11th softmax output; the ten classes' weights are kept, the new column starts at zero
    weights and `none_bias`."""
    old = network.get_layer("probabilities")
    kernel, bias = old.get_weights()
    head = layers.Dense(NUM_CLASSES + 1, activation="softmax", name="probabilities")
    extended = keras.Model(network.inputs, head(old.input), name=network.name)
    head.set_weights(
        [
            np.concatenate([kernel, np.zeros((kernel.shape[0], 1), kernel.dtype)], axis=1),
            np.concatenate([bias, np.array([none_bias], bias.dtype)]),
        ]
    )
    return extended


def eleven_wide(masks: np.ndarray) -> np.ndarray:
    """(N, 10) allowed masks → (N, 11): an all-False row (an outlier) allows only "none"."""
    masks = np.asarray(masks, dtype=np.float32)
    return np.concatenate([masks, (masks.sum(axis=1, keepdims=True) == 0).astype(np.float32)], axis=1)


def ten_class_accuracy(outputs: np.ndarray, allowed: np.ndarray) -> float:
    """Top-1 among the ten classes (never argmax over 11) counts as right when it is an allowed class."""
    top = np.argmax(outputs[:, :NUM_CLASSES], axis=1)
    return float(np.mean(allowed[np.arange(len(allowed)), top]))


class Data:
    """What one network is fine-tuned and judged on: Fashion-MNIST, garment photos and outlier photos, each split
    as the ten-class training split them."""

    def __init__(self, args: argparse.Namespace, augmentation: argparse.Namespace) -> None:
        self.augmentation = augmentation
        self.refit = args.refit
        images, labels = load_split("train", args.data_dir)
        self.fashion_train, self.fashion_val = split_train_validation(images, labels, args.val_size, args.seed)
        population = all_senders(args.photos_dir)
        garments = split_by_sender(load_photos(args.photos_dir), population)
        outliers = split_by_sender(load_photos(args.photos_dir, none_of_the_ten=True), population)
        self.photo_train, self.photo_val = fitted_photos(garments, args.refit), garments["validation"]
        self.none_train, self.none_val = outliers["train"], outliers["validation"]  # the final checks stay unread
        self.backpacks = drawn_backpacks(args.drawn_backpacks) if args.drawn_backpacks else None

    @property
    def backpack_count(self) -> int:
        return 0 if self.backpacks is None else len(self.backpacks)

    def parts(self, args: argparse.Namespace) -> list[tuple[PhotoSet, int]]:
        """The photo-like parts of an epoch, each with the times it is seen: garments, outliers, drawn backpacks."""
        parts = [(self.photo_train, args.photo_repeats), (self.none_train, args.none_repeats)]
        return parts + ([(self.backpacks, 1)] if self.backpacks is not None else [])

    def record(self) -> dict:
        return {
            "none_of_the_ten_photos": {
                "folders": list(NONE_FOLDERS),
                "train_photos": len(self.none_train),
                "validation_photos": len(self.none_val),
            },
            "garment_photos": {"train_photos": len(self.photo_train), "refit": self.refit},
            "drawn_backpacks": self.backpack_count,
            "fashion_mnist_per_epoch_from": len(self.fashion_train[0]),
        }


def epoch_data(args: argparse.Namespace, data: Data, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's inputs (as the network takes them) and 11-wide masks, shuffled, seeded by (seed, epoch)."""
    rng = np.random.default_rng([args.seed, epoch])
    chosen = rng.choice(
        len(data.fashion_train[0]), size=min(args.fashion_per_epoch, len(data.fashion_train[0])), replace=False
    )
    labels = data.fashion_train[1][chosen]
    bag_rng = np.random.default_rng([args.seed, epoch, 1])  # its own: the rest is drawn alike whatever the share
    fashion = narrow_bags(data.fashion_train[0][chosen], labels, args.tall_bags, bag_rng)
    fashion_masks = one_hot_masks(labels)
    photos = data.parts(args)
    base = data.augmentation
    if args.network == "photo":

        def photo_like(crops: np.ndarray) -> np.ndarray:
            return augment(crops, rng, base.min_scale, base.colour_jitter, base.grey_share)

        images = [photo_like(draw_as_photos(fashion, rng))]
        images += [photo_like(part.crops) for part, repeats in photos for _ in range(repeats)]
    else:
        images = [fashion]
        images += [
            jitter_brightness(part.images, rng, base.photo_gamma, tuple(base.photo_gain))
            for part, repeats in photos
            for _ in range(repeats)
        ]
    masks = [fashion_masks] + [part.allowed for part, repeats in photos for _ in range(repeats)]
    inputs, targets = np.concatenate(images), eleven_wide(np.concatenate(masks))
    order = rng.permutation(len(inputs))
    return to_network_input(args.network, inputs[order]), targets[order]


def none_auroc(garment_scores: np.ndarray, outlier_scores: np.ndarray) -> float:
    """How well p(none) ranks outliers above garments (0.5: not at all, 1: perfectly)."""
    truth = np.concatenate([np.zeros(len(garment_scores)), np.ones(len(outlier_scores))])
    return float(roc_auc_score(truth, np.concatenate([garment_scores, outlier_scores])))


def to_network_input(network: str, images: np.ndarray) -> np.ndarray:
    return to_photo_input(images) if network == "photo" else to_model_input(images)


def photo_inputs(network: str, photos: PhotoSet) -> np.ndarray:
    return to_network_input(network, photos.crops if network == "photo" else photos.images)


def validation_scores(args: argparse.Namespace, network: keras.Model, data: Data) -> dict:
    """Garment accuracy among the ten, the AUROC of p(none) (outliers against garments) and, for the 28×28
    network, Fashion-MNIST validation accuracy; the epoch is picked on their mean."""

    def outputs(inputs: np.ndarray) -> np.ndarray:
        return network.predict(inputs, batch_size=PREDICT_BATCH, verbose=0)

    garments = outputs(photo_inputs(args.network, data.photo_val))
    outliers = outputs(photo_inputs(args.network, data.none_val))
    scores = {
        "photo_validation_accuracy": ten_class_accuracy(garments, data.photo_val.allowed),
        "none_validation_auroc": none_auroc(garments[:, NONE_INDEX], outliers[:, NONE_INDEX]),
    }
    if args.network == "fashion_mnist":
        fashion = outputs(to_model_input(data.fashion_val[0]))
        scores["fashion_mnist_validation_accuracy"] = float(
            np.mean(np.argmax(fashion[:, :NUM_CLASSES], axis=1) == data.fashion_val[1])
        )
    scores["selection_score"] = float(np.mean(list(scores.values())))
    return scores


def build_trainer(args: argparse.Namespace, data: Data) -> tuple[keras.Model, keras.Model]:
    """(trainer, network): the 28×28 network trains behind its shifts and flips, as in training/train.py; the
    photo network's augmentation is done on the data (training/photo_network.py)."""
    network = with_none_output(keras.models.load_model(args.base, compile=False), args.none_bias)
    trainer = network
    if args.network == "fashion_mnist":
        augmentation = build_augmenter(argparse.Namespace(**{**vars(data.augmentation), "seed": args.seed}))
        trainer = keras.Sequential([keras.Input(network.input_shape[1:]), augmentation, network], name="trainer")
    return compile_for_training(trainer, args, steps_per_epoch(args, data)), network


def run_epoch(args: argparse.Namespace, trainer: keras.Model, epoch: int, data: Data) -> dict:
    inputs, targets = epoch_data(args, data, epoch)
    return fit_one_epoch(trainer, inputs, targets, args.batch_size, epoch)


def steps_per_epoch(args: argparse.Namespace, data: Data) -> int:
    count = min(args.fashion_per_epoch, len(data.fashion_train[0])) + sum(
        len(part) * repeats for part, repeats in data.parts(args)
    )
    return -(-count // args.batch_size)


def base_arguments(network: str, base_record: dict) -> argparse.Namespace:
    """The augmentation the base was trained with (its record's arguments over its script's defaults): the
    fine-tune shows the network what it saw."""
    defaults = (train_photo.parse_args if network == "photo" else ten_class_arguments)([])
    recorded = base_record.get("arguments", {})
    return argparse.Namespace(**{key: recorded.get(key, value) for key, value in vars(defaults).items()})


def train(args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    base_sha256 = (Path(f"{args.base}.sha256").read_text().split() or [""])[0]
    base_record = read_training_record(args.base, base_sha256) or {}
    data = Data(args, base_arguments(args.network, base_record))
    built: dict[str, keras.Model] = {}

    def build() -> keras.Model:
        built["trainer"], built["network"] = build_trainer(args, data)
        return built["trainer"]

    trainer, state = resume_state(args, build)
    network = built.get("network") or (trainer.layers[-1] if args.network == "fashion_mnist" else trainer)
    logger.info(
        "fine-tuning %s with an 11th output for %d epochs: %d garment photos x %d, %d outlier photos x %d, "
        "%d drawn backpacks",
        args.base,
        args.epochs,
        len(data.photo_train),
        args.photo_repeats,
        len(data.none_train),
        args.none_repeats,
        data.backpack_count,
    )
    state = train_epochs(
        args,
        trainer,
        network,
        state,
        lambda epoch: run_epoch(args, trainer, epoch, data),
        lambda: validation_scores(args, network, data),
        keep_last=args.refit,
    )
    digest = save_for_serving(network, args.output)
    stage = training_record(
        args, argv, digest, state, data.record(), time.perf_counter() - started, module="training.train_none"
    )
    record = {
        **base_record,
        "model_sha256": digest,
        "model_file": args.output.name,
        "base": {"model_file": args.base.name, "sha256": base_sha256},
        "none_of_the_ten": {
            key: stage[key]
            for key in ("command", "arguments", "data", "selection", "history", "trained_at", "duration_s")
        },
    }
    return finish_training(args.output, state, digest, record)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(parse_args(argv), argv)


if __name__ == "__main__":
    main()
