"""What the network is trained on, epoch by epoch: Fashion-MNIST mixed with real photos, and the loss that
lets a photo name a set of classes.

A photo's label is the set of classes its folder allows ("shoes": Sandal, Sneaker or Ankle boot), so every
target is a 10-wide 0/1 mask, one-hot for Fashion-MNIST. The photos are repeated to make a fixed share of
each epoch, each repeat with its own brightness jitter: after pre-processing a photo's garment varies in
gain and gamma far more than a Fashion-MNIST garment does.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from PIL import Image

from core.images import MODEL_SIDE, fit_longest_edge
from core.labels import NUM_CLASSES

BAG = 8  # Fashion-MNIST's class index
# An upright bag's height over its width: a backpack face-on or a tall tote (catalogue backpacks: about 1.2-1.45).
TALL_BAG_ASPECT = (1.0, 1.5)


@keras.saving.register_keras_serializable(package="fashion_mnist")
class AllowedClassesLoss(keras.losses.Loss):
    """−log Σ p over the allowed classes (cross-entropy when one class is allowed), with label smoothing:
    a share `smoothing` of the loss is the cross-entropy against the uniform distribution."""

    def __init__(self, smoothing: float = 0.0, name: str = "allowed_classes", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        probabilities = ops.clip(y_pred, 1e-7, 1.0)
        allowed = ops.sum(probabilities * ops.cast(y_true, probabilities.dtype), axis=-1)
        set_loss = -ops.log(ops.clip(allowed, 1e-7, 1.0))
        uniform_loss = -ops.mean(ops.log(probabilities), axis=-1)
        return (1.0 - self.smoothing) * set_loss + self.smoothing * uniform_loss

    def get_config(self) -> dict:
        return {**super().get_config(), "smoothing": self.smoothing}


@keras.saving.register_keras_serializable(package="fashion_mnist")
class AllowedClassesAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-1 counts as right when it is one of the allowed classes."""

    def __init__(self, name: str = "accuracy", dtype=None) -> None:
        super().__init__(fn=allowed_top1, name=name, dtype=dtype)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}


def allowed_top1(y_true, y_pred):
    top = ops.one_hot(ops.argmax(y_pred, axis=-1), ops.shape(y_pred)[-1])  # 10 classes, or 11 with "none"
    return ops.max(top * ops.cast(y_true, top.dtype), axis=-1)


def one_hot_masks(labels: np.ndarray) -> np.ndarray:
    """Fashion-MNIST's single labels as allowed-class masks."""
    masks = np.zeros((len(labels), NUM_CLASSES), dtype=np.float32)
    masks[np.arange(len(labels)), labels] = 1.0
    return masks


def narrowed(image: np.ndarray, aspect: float) -> np.ndarray:
    """A Fashion-MNIST image's object squeezed sideways to height/width `aspect` (never widened), then refitted
    as Fashion-MNIST fits every product: longest side 28 px, centred. Unchanged when blank or already that tall."""
    rows, cols = np.flatnonzero(image.max(axis=1)), np.flatnonzero(image.max(axis=0))
    if not len(rows):
        return image
    part = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = part.shape
    new_width = min(width, height / aspect)
    scale = MODEL_SIDE / max(height, new_width)
    size = (max(1, round(new_width * scale)), max(1, round(height * scale)))  # PIL's (width, height)
    # Bilinear to the final size (no ringing on a flat bag), then placed by the server's own fit, which leaves a
    # picture already that size as it is.
    resized = np.asarray(Image.fromarray(part).resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return np.round(fit_longest_edge(resized)).astype(np.uint8)


def narrow_bags(images: np.ndarray, labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A share of the bags made upright (height/width in TALL_BAG_ASPECT). Fashion-MNIST's bags are nearly all
    handbags and totes wider than tall, and the networks learned that a tall, sleeveless shape is a top: a
    backpack face-on, common in catalogues, was called Pullover or T-shirt (issue 23). The class holds for any
    bag's proportions, so this shows Bag in what Fashion-MNIST's own bags look like, not in a drawing. Tried in
    the none-of-the-ten stage on 2026-12-07 and not shipped: it changed nothing measurable (training/README.md)."""
    out = images.copy()
    bags = np.flatnonzero(labels == BAG)
    chosen = bags[rng.random(len(bags)) < share]
    for index, aspect in zip(chosen, rng.uniform(*TALL_BAG_ASPECT, len(chosen)), strict=True):
        out[index] = narrowed(images[index], float(aspect))
    return out


def jitter_brightness(
    images: np.ndarray, rng: np.random.Generator, max_log_gamma: float, gain_range: tuple[float, float]
) -> np.ndarray:
    """Each image's garment made brighter or darker (gamma, then gain), background kept at 0."""
    values = images.astype(np.float32) / 255.0
    count = len(values)
    gamma = np.exp(rng.uniform(-max_log_gamma, max_log_gamma, count)).astype(np.float32)[:, None, None]
    gain = rng.uniform(*gain_range, count).astype(np.float32)[:, None, None]
    return np.clip(np.power(values, gamma) * gain * 255.0, 0.0, 255.0).round().astype(np.uint8)


def epoch_data(
    fashion_images: np.ndarray,
    fashion_labels: np.ndarray,
    photo_images: np.ndarray,
    photo_allowed: np.ndarray,
    photo_repeats: int,
    rng: np.random.Generator,
    max_log_gamma: float,
    gain_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's images (N, 28, 28) uint8 and allowed masks (N, 10), shuffled: every Fashion-MNIST
    training image once, and every training photo `photo_repeats` times with fresh jitter."""
    images = [fashion_images]
    targets = [one_hot_masks(fashion_labels)]
    for _ in range(photo_repeats if len(photo_images) else 0):
        images.append(jitter_brightness(photo_images, rng, max_log_gamma, gain_range))
        targets.append(photo_allowed.astype(np.float32))
    images_all, targets_all = np.concatenate(images), np.concatenate(targets)
    order = rng.permutation(len(images_all))
    return images_all[order], targets_all[order]
