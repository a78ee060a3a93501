"""Train the Fashion-MNIST network that the service ships, reproducibly, from the standard IDX files.

Usage: python training/train.py --data-dir ../shared/datasets/fashion-mnist
The defaults of every flag are the ones that produced assets/fashion_mnist.h5.
The recipe is backend-agnostic Keras 3: it trains on the CPU with TensorFlow (as `make train` does), and
the same command runs on a GPU with KERAS_BACKEND=jax when one is available; nothing depends on a GPU.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import keras
import numpy as np
from keras import layers

import config
from core.checksum import write_checksum
from core.labels import NUM_CLASSES
from training.architecture import ARCHITECTURES, INPUT_SHAPE, build_model
from training.dataset import add_data_dir_argument, load_split

logger = logging.getLogger("training.train")


def _widths(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    parser.add_argument("--output", type=Path, default=config.MODEL_PATH, help="where to write the .h5 model")
    network = parser.add_argument_group("network")
    network.add_argument("--arch", choices=ARCHITECTURES, default="vgg")
    network.add_argument("--widths", type=_widths, default=(32, 64), help="filters per block/stage, e.g. 32,64")
    network.add_argument("--blocks-per-stage", type=int, default=1, help="residual blocks per stage (resnet)")
    network.add_argument("--dense-units", type=int, default=256, help="hidden units of the head (0: none)")
    network.add_argument("--dropout", type=float, default=0.25)
    optimisation = parser.add_argument_group("optimisation")
    optimisation.add_argument("--epochs", type=int, default=15)
    optimisation.add_argument("--batch-size", type=int, default=128)
    optimisation.add_argument("--learning-rate", type=float, default=2e-3, help="peak rate of the cosine schedule")
    optimisation.add_argument("--warmup-epochs", type=float, default=0.0, help="linear warm-up before the cosine")
    optimisation.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW decoupled weight decay")
    optimisation.add_argument("--label-smoothing", type=float, default=0.05)
    augmentation = parser.add_argument_group("augmentation (train time only; never an up-down flip)")
    augmentation.add_argument("--max-shift", type=int, default=2, help="random translation in pixels")
    augmentation.add_argument("--no-flip", dest="flip", action="store_false", help="no left-right flips")
    augmentation.add_argument("--max-rotation", type=float, default=0.0, help="degrees, either way")
    augmentation.add_argument("--max-zoom", type=float, default=0.0, help="scale change, e.g. 0.1 for ±10 %%")
    augmentation.add_argument("--contrast", type=float, default=0.0, help="random contrast factor")
    augmentation.add_argument("--brightness", type=float, default=0.0, help="random brightness, fraction of range")
    augmentation.add_argument("--erasing", type=float, default=0.0, help="probability of random erasing")
    selection = parser.add_argument_group("model selection")
    selection.add_argument("--val-size", type=int, default=5000,
                           help="images carved from the training set for model selection")
    selection.add_argument("--seed", type=int, default=42)
    parser.add_argument("--history", type=Path, default=None, help="optional JSON file for the epoch history")
    return parser.parse_args(argv)


def split_train_validation(images: np.ndarray, labels: np.ndarray, val_size: int, seed: int):
    """A fixed, seeded split of the training set: the test set is never used for selection."""
    order = np.random.default_rng(seed).permutation(len(images))
    val_idx, train_idx = order[:val_size], order[val_size:]
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def to_model_input(images: np.ndarray) -> np.ndarray:
    """The same scaling as core.model.to_model_batch: floats in [0, 1], one channel."""
    return (images.astype("float32") / 255.0)[..., np.newaxis]


def build_augmenter(args: argparse.Namespace) -> keras.Sequential:
    """Shifts and left-right flips as in the dataset's own variation, plus what photos look like after
    pre-processing (small rotations, scale, contrast, brightness) and random erasing (occlusion).
    Keras layers run only when training=True, so validation and the saved network never see them."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}  # Fashion-MNIST's background is black
    shift = args.max_shift / INPUT_SHAPE[0]
    steps: list[layers.Layer] = [layers.RandomTranslation(shift, shift, seed=args.seed, **fill)]
    if args.flip:
        steps.append(layers.RandomFlip("horizontal", seed=args.seed + 1))
    if args.max_rotation:
        steps.append(layers.RandomRotation(args.max_rotation / 360.0, seed=args.seed + 2, **fill))
    if args.max_zoom:
        steps.append(layers.RandomZoom((-args.max_zoom, args.max_zoom), seed=args.seed + 3, **fill))
    if args.contrast:
        steps.append(layers.RandomContrast(args.contrast, value_range=(0, 1), seed=args.seed + 4))
    if args.brightness:
        steps.append(layers.RandomBrightness(args.brightness, value_range=(0, 1), seed=args.seed + 5))
    if args.erasing:
        steps.append(layers.RandomErasing(factor=(args.erasing, args.erasing), scale=(0.02, 0.25),
                                          fill_value=0.0, value_range=(0, 1), seed=args.seed + 6))
    return keras.Sequential(steps, name="augmentation")


class KeepBestWeights(keras.callbacks.Callback):
    """Remembers the network's weights at its best validation accuracy (selection on validation only)."""

    def __init__(self, network: keras.Model) -> None:
        super().__init__()
        self.network = network
        self.best_accuracy = -1.0
        self.best_weights: list | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = float((logs or {}).get("val_accuracy", -1.0))
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_weights = accuracy, self.network.get_weights()


def learning_rate_schedule(args: argparse.Namespace, steps_per_epoch: int):
    total_steps = args.epochs * steps_per_epoch
    warmup_steps = int(args.warmup_epochs * steps_per_epoch)
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=total_steps)
    return keras.optimizers.schedules.CosineDecay(
        args.learning_rate / 10, decay_steps=total_steps - warmup_steps,
        warmup_target=args.learning_rate, warmup_steps=warmup_steps)


def build_training_model(args: argparse.Namespace, network: keras.Model, steps_per_epoch: int) -> keras.Model:
    trainer = keras.Sequential([keras.Input(INPUT_SHAPE), build_augmenter(args), network], name="trainer")
    trainer.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate_schedule(args, steps_per_epoch),
                                         weight_decay=args.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=["accuracy"])
    return trainer


def save_for_serving(network: keras.Model, output: Path) -> str:
    """The network alone (no augmentation, no optimizer state), with its sha256 beside it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    network.save(output, include_optimizer=False)
    return write_checksum(output, output.with_name(output.name + ".sha256"))


def train(args: argparse.Namespace) -> dict:
    keras.utils.set_random_seed(args.seed)
    images, labels = load_split("train", args.data_dir)
    (x_train, y_train), (x_val, y_val) = split_train_validation(images, labels, args.val_size, args.seed)
    network = build_model(args.arch, args.widths, args.dense_units, args.dropout, args.blocks_per_stage)
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    trainer = build_training_model(args, network, steps_per_epoch)
    logger.info("training %s (%d parameters) for %d epochs on the %s backend",
                network.name, network.count_params(), args.epochs, keras.backend.backend())
    best = KeepBestWeights(network)
    history = trainer.fit(
        to_model_input(x_train), keras.utils.to_categorical(y_train, NUM_CLASSES),
        validation_data=(to_model_input(x_val), keras.utils.to_categorical(y_val, NUM_CLASSES)),
        batch_size=args.batch_size, epochs=args.epochs, shuffle=True, callbacks=[best],
        verbose=1 if sys.stdout.isatty() else 2)
    network.set_weights(best.best_weights)
    digest = save_for_serving(network, args.output)
    logger.info("best validation accuracy %.4f; wrote %s (sha256 %s)", best.best_accuracy, args.output, digest)
    if args.history:
        args.history.write_text(json.dumps(history.history, indent=2))
    return {"best_val_accuracy": best.best_accuracy, "sha256": digest}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(parse_args(argv))


if __name__ == "__main__":
    main()
