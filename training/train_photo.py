"""Train the photo network (training/photo_network.py) on the photos' colour garment crops and on Fashion-MNIST
drawn as catalogue photos, reproducibly, on a CPU.

Usage: python -m training.train_photo [--data-dir D] [--photos-dir P] [--refit] [--resume] [flags...]   (make train)
The photos are split by sender as for the 28×28 network (training/senders.py): the training part trains, the
validation part picks the epoch (and compares recipes), the final check is not read here. With --refit, once a
run without it has chosen the recipe, the validation part is trained on too and the last epoch is kept. The
defaults with --refit made assets/fashion_mnist_photo.h5; the arguments actually used are written next to it (its
.training.json, keyed by its sha256). A checkpoint after every epoch in --checkpoint-dir; --resume carries on.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import keras
import numpy as np

import config
from training.checkpoints import add_checkpoint_arguments, fit_one_epoch, resume_state, train_epochs
from training.dataset import add_data_dir_argument, find_data_dir, load_split
from training.photo_network import build_photo_network, photo_epoch_data, to_photo_input
from training.photos import (
    ALL_FOLDER_CLASSES,
    PhotoSet,
    add_photos_dir_argument,
    all_senders,
    is_right,
    load_photos,
    preprocessing_fingerprint,
)
from training.record import finish_training
from training.senders import add_refit_argument, fitted_photos, split_by_sender, split_record
from training.train import (
    add_optimisation_arguments,
    compile_for_training,
    save_for_serving,
    split_train_validation,
    training_record,
)

logger = logging.getLogger("training.train_photo")

PREDICT_BATCH = 256


def _widths(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_photos_dir_argument(parser)
    parser.add_argument(
        "--output",
        type=Path,
        default=config.SETTINGS.photo_model_path,
        help="where to write the .h5 model (default: %(default)s)",
    )
    add_checkpoint_arguments(parser, config.REPO_ROOT / "artifacts" / "training-photo", "%(default)s")
    parser.add_argument("--widths", type=_widths, default=(24, 48, 96, 192), help="filters per block")
    parser.add_argument("--dropout", type=float, default=0.3, help="before the softmax")
    add_optimisation_arguments(parser, epochs=40, batch_size=64, warmup_epochs=1.0, weight_decay=5e-4)
    parser.add_argument("--photo-repeats", type=int, default=2, help="times each training crop is seen per epoch")
    parser.add_argument(
        "--fashion-per-epoch", type=int, default=3000, help="Fashion-MNIST training images drawn as photos per epoch"
    )
    parser.add_argument("--min-scale", type=float, default=0.6, help="random resized crop: least share of the area")
    parser.add_argument("--colour-jitter", type=float, default=0.3, help="brightness, contrast, saturation ±this")
    parser.add_argument("--grey-share", type=float, default=0.15, help="share of images made grey")
    parser.add_argument(
        "--val-size",
        type=int,
        default=5000,
        help="Fashion-MNIST training images held back (the 28×28 network's split): never trained on",
    )
    add_refit_argument(parser)
    parser.add_argument("--limit-photos", type=int, default=0, help="train on this many photos (0: all): smoke tests")
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def build_trainer(args: argparse.Namespace, steps_per_epoch: int) -> keras.Model:
    return compile_for_training(build_photo_network(args.widths, args.dropout), args, steps_per_epoch)


def load_data(args: argparse.Namespace) -> tuple[tuple[np.ndarray, np.ndarray], PhotoSet, PhotoSet]:
    images, labels = load_split("train", args.data_dir)
    fashion_train, _ = split_train_validation(images, labels, args.val_size, args.seed)
    parts = split_by_sender(load_photos(args.photos_dir), all_senders(args.photos_dir))
    photo_train = fitted_photos(parts, args.refit)
    if args.limit_photos:
        photo_train = photo_train.subset(np.arange(min(args.limit_photos, len(photo_train))))
    return fashion_train, photo_train, parts["validation"]


def epoch_size(args: argparse.Namespace, fashion_train, photo_train: PhotoSet) -> int:
    return min(args.fashion_per_epoch, len(fashion_train[0])) + len(photo_train) * args.photo_repeats


def run_epoch(args: argparse.Namespace, network: keras.Model, epoch: int, fashion_train, photo_train: PhotoSet) -> dict:
    rng = np.random.default_rng([args.seed, epoch])  # the same epoch's data whether resumed or not
    images, targets = photo_epoch_data(
        photo_train.crops,
        photo_train.allowed,
        args.photo_repeats,
        fashion_train[0],
        fashion_train[1],
        args.fashion_per_epoch,
        rng,
        args.min_scale,
        args.colour_jitter,
        args.grey_share,
    )
    return fit_one_epoch(network, to_photo_input(images), targets, args.batch_size, epoch)


def validation_scores(network: keras.Model, photo_val: PhotoSet) -> dict:
    probabilities = network.predict(to_photo_input(photo_val.crops), batch_size=PREDICT_BATCH, verbose=0)
    accuracy = float(np.mean(is_right(probabilities, photo_val.allowed)))
    return {"photo_validation_accuracy": accuracy, "selection_score": accuracy}


def data_record(args: argparse.Namespace, fashion_train, photo_train: PhotoSet, photo_val: PhotoSet) -> dict:
    return {
        "fashion_mnist": {
            "directory": find_data_dir(args.data_dir).name,
            "source": "zalandoresearch/fashion-mnist",
            "licence": "MIT",
            "train_images": len(fashion_train[0]),
            "drawn_as_photos_per_epoch": args.fashion_per_epoch,
        },
        "photos": {
            "source": "alexeygrigorev/clothing-dataset-small (train/) and clothing-dataset (extra/)",
            "licence": "CC0 1.0",
            "folder_classes": {folder: list(classes) for folder, classes in ALL_FOLDER_CLASSES.items()},
            "train_photos": len(photo_train),
            "validation_photos": len(photo_val),
            "refit": args.refit,
            "split": split_record(),
            "preprocessing_sha256": preprocessing_fingerprint(),
        },
    }


def train(args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    fashion_train, photo_train, photo_val = load_data(args)
    steps = -(-epoch_size(args, fashion_train, photo_train) // args.batch_size)
    network, state = resume_state(args, lambda: build_trainer(args, steps))
    logger.info(
        "training %s (%d parameters) for %d epochs: %d photos x %d and %d Fashion-MNIST images per epoch",
        network.name,
        network.count_params(),
        args.epochs,
        len(photo_train),
        args.photo_repeats,
        args.fashion_per_epoch,
    )
    state = train_epochs(
        args,
        network,
        network,
        state,
        lambda epoch: run_epoch(args, network, epoch, fashion_train, photo_train),
        lambda: validation_scores(network, photo_val),
        keep_last=args.refit,
    )
    digest = save_for_serving(network, args.output)
    record = training_record(
        args,
        argv,
        digest,
        state,
        data_record(args, fashion_train, photo_train, photo_val),
        time.perf_counter() - started,
        module="training.train_photo",
    )
    return finish_training(args.output, state, digest, record)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(parse_args(argv), argv)


if __name__ == "__main__":
    main()
