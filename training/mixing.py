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

from core.labels import NUM_CLASSES


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
