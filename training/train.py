"""Train the Fashion-MNIST CNN that the service ships, reproducibly, from the standard IDX files.

Usage: python training/train.py --data-dir ../shared/datasets/fashion-mnist
The defaults of every flag are the ones that produced assets/fashion_mnist.h5.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import keras
import numpy as np
import tensorflow as tf

import config
from core.checksum import write_checksum
from core.labels import NUM_CLASSES
from training.architecture import build_cnn
from training.dataset import add_data_dir_argument, load_split

logger = logging.getLogger("training.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    parser.add_argument("--output", type=Path, default=config.MODEL_PATH, help="where to write the .h5 model")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak rate of the cosine schedule")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW decoupled weight decay")
    parser.add_argument("--label-smoothing", type=float, default=0.05)
    parser.add_argument("--width", type=int, default=32, help="filters of the first conv block")
    parser.add_argument("--dense-units", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--max-shift", type=int, default=2, help="random translation in pixels")
    parser.add_argument("--val-size", type=int, default=5000,
                        help="images carved from the training set for model selection")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--history", type=Path, default=None, help="optional JSON file for the epoch history")
    return parser.parse_args(argv)


def split_train_validation(images: np.ndarray, labels: np.ndarray, val_size: int, seed: int):
    """A fixed, seeded, stratification-free split: the test set is never used for selection."""
    order = np.random.default_rng(seed).permutation(len(images))
    val_idx, train_idx = order[:val_size], order[val_size:]
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def to_model_input(images: np.ndarray) -> np.ndarray:
    return (images.astype("float32") / 255.0)[..., np.newaxis]


def augment(image: tf.Tensor, max_shift: int) -> tf.Tensor:
    """Shift by up to max_shift pixels (pad + random crop) and flip left-right; never up-down."""
    size = 28
    padded = tf.pad(image, [[max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    shifted = tf.image.random_crop(padded, [size, size, 1])
    return tf.image.random_flip_left_right(shifted)


def make_datasets(args: argparse.Namespace):
    images, labels = load_split("train", args.data_dir)
    (x_train, y_train), (x_val, y_val) = split_train_validation(images, labels, args.val_size, args.seed)
    y_train_1h = keras.utils.to_categorical(y_train, NUM_CLASSES)
    y_val_1h = keras.utils.to_categorical(y_val, NUM_CLASSES)
    train = (tf.data.Dataset.from_tensor_slices((to_model_input(x_train), y_train_1h))
             .shuffle(len(x_train), seed=args.seed, reshuffle_each_iteration=True)
             .map(lambda x, y: (augment(x, args.max_shift), y), num_parallel_calls=tf.data.AUTOTUNE)
             .batch(args.batch_size)
             .prefetch(tf.data.AUTOTUNE))
    val = tf.data.Dataset.from_tensor_slices((to_model_input(x_val), y_val_1h)).batch(512)
    return train, val, len(x_train)


def compile_model(args: argparse.Namespace, steps_per_epoch: int) -> keras.Model:
    model = build_cnn(width=args.width, dense_units=args.dense_units, dropout=args.dropout)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.learning_rate, decay_steps=args.epochs * steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=args.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=["accuracy"])
    return model


def save_for_serving(checkpoint: Path, output: Path) -> str:
    """The best epoch's weights without the optimizer's state: a third of the size, same predictions."""
    best = keras.models.load_model(checkpoint, compile=False)
    output.parent.mkdir(parents=True, exist_ok=True)
    best.save(output, include_optimizer=False)
    return write_checksum(output, output.with_name(output.name + ".sha256"))


def train(args: argparse.Namespace) -> dict:
    keras.utils.set_random_seed(args.seed)
    train_ds, val_ds, train_count = make_datasets(args)
    steps_per_epoch = -(-train_count // args.batch_size)
    model = compile_model(args, steps_per_epoch)
    logger.info("training %s (%d parameters) for %d epochs", model.name, model.count_params(), args.epochs)
    with tempfile.TemporaryDirectory() as workdir:
        checkpoint = Path(workdir) / "best.h5"
        best_checkpoint = keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor="val_accuracy", mode="max", save_best_only=True)
        history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=[best_checkpoint],
                            verbose=1 if sys.stdout.isatty() else 2)
        digest = save_for_serving(checkpoint, args.output)
    best_val = max(history.history["val_accuracy"])
    logger.info("best validation accuracy %.4f; wrote %s (sha256 %s)", best_val, args.output, digest)
    if args.history:
        args.history.write_text(json.dumps(history.history, indent=2))
    return {"best_val_accuracy": best_val, "sha256": digest}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(parse_args(argv))


if __name__ == "__main__":
    main()
