"""Train the network the service ships on Fashion-MNIST and real clothing photos, reproducibly, on a CPU.

Usage: python -m training.train [--data-dir D] [--photos-dir P] [--refit] [--resume] [flags...]   (make train)
The defaults of every flag are the ones that produced assets/fashion_mnist.h5; the arguments actually used
are written next to the model (assets/fashion_mnist.training.json, keyed by its sha256) for the model card.
Photos go through the server's own pre-processing (training/photos.py); the photos of a share of the senders
(training/senders.py) and a seeded share of the Fashion-MNIST training set are held back for model selection,
the photos of other senders for the final check, and the official test set is never touched here.
After every epoch a checkpoint (network, optimizer, history) is written to --checkpoint-dir; --resume carries
on from it. Progress goes to the log.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

import config
from core.checksum import write_checksum
from training.architecture import ARCHITECTURES, INPUT_SHAPE, build_model
from training.checkpoints import add_checkpoint_arguments, fit_one_epoch, resume_state, train_epochs
from training.dataset import add_data_dir_argument, find_data_dir, load_split
from training.mixing import AllowedClassesAccuracy, AllowedClassesLoss, epoch_data
from training.photos import (
    ALL_FOLDER_CLASSES,
    PhotoSet,
    add_photos_dir_argument,
    all_senders,
    find_photos_root,
    is_right,
    load_photos,
    preprocessing_fingerprint,
)
from training.photos import CACHE_DIR as PHOTO_CACHE_DIR
from training.record import finish_training
from training.senders import (
    add_refit_argument,
    fitted_photos,
    split_by_sender,
    split_record,
)

logger = logging.getLogger("training.train")

PREDICT_BATCH = 1000


def _numbers(kind):
    return lambda text: tuple(kind(part) for part in text.split(","))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_photos_dir_argument(parser)
    parser.add_argument("--output", type=Path, default=config.SETTINGS.model_path, help="where to write the .h5 model")
    add_checkpoint_arguments(parser, config.REPO_ROOT / "artifacts" / "training", "%(default)s")
    network = parser.add_argument_group("network")
    network.add_argument("--arch", choices=ARCHITECTURES, default="vgg")
    network.add_argument("--widths", type=_numbers(int), default=(32, 64, 128), help="filters per block, e.g. 32,64")
    network.add_argument("--blocks-per-stage", type=int, default=1, help="residual blocks per stage (resnet)")
    network.add_argument("--dense-units", type=int, default=256, help="hidden units of the head (0: none)")
    network.add_argument("--dropout", type=float, default=0.15, help="after each block; twice this in the head")
    add_optimisation_arguments(parser, epochs=16, batch_size=128, warmup_epochs=0.5, weight_decay=1e-4)
    augmentation = parser.add_argument_group("augmentation (train time only; never an up-down flip)")
    augmentation.add_argument("--max-shift", type=int, default=2, help="random translation in pixels")
    augmentation.add_argument("--no-flip", dest="flip", action="store_false", help="no left-right flips")
    augmentation.add_argument("--max-zoom", type=float, default=0.0, help="scale change, e.g. 0.1 for ±10 %%")
    augmentation.add_argument("--erasing", type=float, default=0.0, help="probability of random erasing")
    photos = parser.add_argument_group("photos")
    photos.add_argument("--no-photos", dest="photos", action="store_false", help="Fashion-MNIST only")
    photos.add_argument("--photo-repeats", type=int, default=4, help="times each training photo is seen per epoch")
    photos.add_argument("--photo-gamma", type=float, default=0.4, help="brightness jitter: gamma e^±this")
    photos.add_argument("--photo-gain", type=_numbers(float), default=(0.6, 1.2), help="brightness jitter: gain range")
    photos.add_argument(
        "--photo-cache-dir",
        type=Path,
        default=PHOTO_CACHE_DIR,
        help="where the photos' pre-processed arrays are cached (default: %(default)s)",
    )
    selection = parser.add_argument_group("model selection")
    selection.add_argument(
        "--val-size", type=int, default=5000, help="Fashion-MNIST training images held back for model selection"
    )
    selection.add_argument(
        "--limit-train",
        type=int,
        default=0,
        help="use only this many Fashion-MNIST training images (0: all): for smoke tests",
    )
    add_refit_argument(selection)
    selection.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def add_optimisation_arguments(
    parser: argparse.ArgumentParser, epochs: int, batch_size: int, warmup_epochs: float, weight_decay: float
) -> None:
    """The optimiser's flags, shared by both training runs with each one's defaults: AdamW, cosine schedule."""
    optimisation = parser.add_argument_group("optimisation")
    optimisation.add_argument("--epochs", type=int, default=epochs)
    optimisation.add_argument("--batch-size", type=int, default=batch_size)
    optimisation.add_argument("--learning-rate", type=float, default=2e-3, help="peak rate of the cosine schedule")
    optimisation.add_argument(
        "--warmup-epochs", type=float, default=warmup_epochs, help="linear warm-up before the cosine"
    )
    optimisation.add_argument("--weight-decay", type=float, default=weight_decay, help="AdamW decoupled weight decay")
    optimisation.add_argument("--label-smoothing", type=float, default=0.05)


def split_train_validation(images: np.ndarray, labels: np.ndarray, val_size: int, seed: int):
    """A fixed, seeded split of the training set: the test set is never used for selection."""
    order = np.random.default_rng(seed).permutation(len(images))
    val_idx, train_idx = order[:val_size], order[val_size:]
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def to_model_input(images: np.ndarray) -> np.ndarray:
    """The same scaling as core.model.to_model_batch: floats in [0, 1], one channel."""
    return (images.astype("float32") / 255.0)[..., np.newaxis]


def build_augmenter(args: argparse.Namespace) -> keras.Sequential:
    """Shifts and left-right flips as in the dataset's own variation, scale and random erasing (occlusion).
    Keras layers run only when training=True, so validation and the saved network never see them."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}  # Fashion-MNIST's background is black
    shift = args.max_shift / INPUT_SHAPE[0]
    steps: list[layers.Layer] = [layers.RandomTranslation(shift, shift, seed=args.seed, **fill)]
    if args.flip:
        steps.append(layers.RandomFlip("horizontal", seed=args.seed + 1))
    if args.max_zoom:
        steps.append(layers.RandomZoom((-args.max_zoom, args.max_zoom), seed=args.seed + 3, **fill))
    if args.erasing:
        steps.append(
            layers.RandomErasing(
                factor=(args.erasing, args.erasing),
                scale=(0.02, 0.25),
                fill_value=0.0,
                value_range=(0, 1),
                seed=args.seed + 6,
            )
        )
    return keras.Sequential(steps, name="augmentation")


def learning_rate_schedule(args: argparse.Namespace, steps_per_epoch: int):
    total_steps = args.epochs * steps_per_epoch
    warmup_steps = int(args.warmup_epochs * steps_per_epoch)
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=total_steps)
    return keras.optimizers.schedules.CosineDecay(
        args.learning_rate / 10,
        decay_steps=total_steps - warmup_steps,
        warmup_target=args.learning_rate,
        warmup_steps=warmup_steps,
    )


def compile_for_training(model: keras.Model, args: argparse.Namespace, steps_per_epoch: int) -> keras.Model:
    """The optimisation every training run shares: AdamW on the warm-up/cosine schedule, the set loss (a photo
    folder may allow several classes) and its accuracy."""
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=learning_rate_schedule(args, steps_per_epoch), weight_decay=args.weight_decay
        ),
        loss=AllowedClassesLoss(args.label_smoothing),
        metrics=[AllowedClassesAccuracy()],
    )
    return model


def build_trainer(args: argparse.Namespace, steps_per_epoch: int) -> keras.Model:
    network = build_model(args.arch, args.widths, args.dense_units, args.dropout, args.blocks_per_stage)
    trainer = keras.Sequential([keras.Input(INPUT_SHAPE), build_augmenter(args), network], name="trainer")
    return compile_for_training(trainer, args, steps_per_epoch)


def validation_scores(
    network: keras.Model, fashion_val: tuple[np.ndarray, np.ndarray], photo_val: PhotoSet | None
) -> dict:
    """Accuracy on both validation splits, and the score that picks the epoch (their mean)."""
    predicted = network.predict(to_model_input(fashion_val[0]), batch_size=PREDICT_BATCH, verbose=0)
    scores = {"fashion_mnist_validation_accuracy": float(np.mean(np.argmax(predicted, axis=1) == fashion_val[1]))}
    if photo_val is not None and len(photo_val):
        photo_probabilities = network.predict(to_model_input(photo_val.images), batch_size=PREDICT_BATCH, verbose=0)
        scores["photo_validation_accuracy"] = float(np.mean(is_right(photo_probabilities, photo_val.allowed)))
    scores["selection_score"] = float(np.mean(list(scores.values())))
    return scores


def load_data(args: argparse.Namespace):
    images, labels = load_split("train", args.data_dir)
    fashion_train, fashion_val = split_train_validation(images, labels, args.val_size, args.seed)
    if args.limit_train:
        fashion_train = (fashion_train[0][: args.limit_train], fashion_train[1][: args.limit_train])
    photo_train = photo_val = None
    if args.photos:
        parts = split_by_sender(load_photos(args.photos_dir, args.photo_cache_dir), all_senders(args.photos_dir))
        photo_train, photo_val = fitted_photos(parts, args.refit), parts["validation"]  # the final check stays unread
    return fashion_train, fashion_val, photo_train, photo_val


def data_record(args: argparse.Namespace, fashion_train, fashion_val, photo_train, photo_val) -> dict:
    """Which data trained the model: both datasets, their licences and the photo folders' classes."""
    record = {
        "fashion_mnist": {
            "directory": find_data_dir(args.data_dir).name,
            "source": "zalandoresearch/fashion-mnist",
            "licence": "MIT",
            "train_images": len(fashion_train[0]),
            "validation_images": len(fashion_val[0]),
        }
    }
    if photo_train is not None:
        record["photos"] = {
            "root": find_photos_root(args.photos_dir).parent.name,
            "source": "alexeygrigorev/clothing-dataset-small (train/) and clothing-dataset (extra/)",
            "licence": "CC0 1.0",
            "folder_classes": {folder: list(classes) for folder, classes in ALL_FOLDER_CLASSES.items()},
            "train_photos": len(photo_train),
            "validation_photos": len(photo_val),
            "train_senders": len(set(photo_train.senders.tolist())),
            "validation_senders": len(set(photo_val.senders.tolist())),
            "refit": args.refit,
            "split": split_record(),
            "preprocessing_sha256": preprocessing_fingerprint(),
        }
    return record


def run_epoch(args: argparse.Namespace, trainer: keras.Model, epoch: int, fashion_train, photo_train) -> dict:
    rng = np.random.default_rng([args.seed, epoch])  # the same epoch's data whether resumed or not
    images, targets = epoch_data(
        fashion_train[0],
        fashion_train[1],
        photo_train.images if photo_train is not None else np.zeros((0, 28, 28), np.uint8),
        photo_train.allowed if photo_train is not None else np.zeros((0, 10), bool),
        args.photo_repeats,
        rng,
        args.photo_gamma,
        args.photo_gain,
    )
    return fit_one_epoch(trainer, to_model_input(images), targets, args.batch_size, epoch)


def steps_per_epoch(args: argparse.Namespace, fashion_train, photo_train) -> int:
    photos = len(photo_train) * args.photo_repeats if photo_train is not None else 0
    return -(-(len(fashion_train[0]) + photos) // args.batch_size)


def train(args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    fashion_train, fashion_val, photo_train, photo_val = load_data(args)
    trainer, state = resume_state(args, lambda: build_trainer(args, steps_per_epoch(args, fashion_train, photo_train)))
    network = trainer.layers[-1]
    logger.info(
        "training %s (%d parameters) for %d epochs: %d Fashion-MNIST images, %d photos x %d per epoch",
        network.name,
        network.count_params(),
        args.epochs,
        len(fashion_train[0]),
        len(photo_train) if photo_train is not None else 0,
        args.photo_repeats,
    )
    state = train_epochs(
        args,
        trainer,
        network,
        state,
        lambda epoch: run_epoch(args, trainer, epoch, fashion_train, photo_train),
        lambda: validation_scores(network, fashion_val, photo_val),
        keep_last=args.refit,
    )
    digest = save_for_serving(network, args.output)
    record = training_record(
        args,
        argv,
        digest,
        state,
        data_record(args, fashion_train, fashion_val, photo_train, photo_val),
        time.perf_counter() - started,
    )
    return finish_training(args.output, state, digest, record)


def save_for_serving(network: keras.Model, output: Path) -> str:
    """The network alone (no augmentation, no optimizer state), with its sha256 beside it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    network.save(output, include_optimizer=False)
    return write_checksum(output, output.with_name(output.name + ".sha256"))


def repo_relative(path: Path) -> str:
    """A path inside the checkout as the checkout names it: the record must not carry this machine's layout."""
    resolved = path.resolve()
    return str(resolved.relative_to(config.REPO_ROOT)) if resolved.is_relative_to(config.REPO_ROOT) else str(path)


def training_record(
    args: argparse.Namespace,
    argv: list[str] | None,
    digest: str,
    state: dict,
    data: dict,
    seconds: float,
    module: str = "training.train",
) -> dict:
    """The arguments actually used (not today's flag defaults), keyed by the model's sha256; `module` is the
    run's own (python -m <module>)."""
    arguments = {key: (repo_relative(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    return {
        "model_sha256": digest,
        "model_file": args.output.name,
        "command": shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)]),
        "arguments": arguments,
        "data": data,
        "selection": state["best"],
        "history": state["history"],
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(seconds, 1),
        "resumed": args.resume,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__},
    }


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(parse_args(argv), argv)


if __name__ == "__main__":
    main()
