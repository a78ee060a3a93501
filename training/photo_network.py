"""The photo network and what it is shown: 64×64 colour garment crops of photos, and Fashion-MNIST drawn as
catalogue photos so that its classes (Bag above all, which no photo shows) stay alive for photo-like inputs.

Input: (64, 64, 3) floats in [0, 1] (core/photo_crop.py makes them from a photo); output: 10 softmax. The
server averages it with the 28×28 network (a geometric mean, core/model.py); a Fashion-MNIST-sized upload is
only seen by the 28×28 network.

Every epoch's data comes from a generator seeded by (seed, epoch), so a resumed run sees what an uninterrupted
one would. Augmentations are numpy and Pillow, written here rather than as Keras layers for that reason.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers
from PIL import Image

from core.labels import NUM_CLASSES
from core.photo_crop import PHOTO_CHANNELS, PHOTO_SIDE
from training.mixing import one_hot_masks

PHOTO_INPUT_SHAPE = (PHOTO_SIDE, PHOTO_SIDE, PHOTO_CHANNELS)
WHITE = 255.0
# Where a Fashion-MNIST pixel counts as garment when it is drawn as a photo (its background is 0).
GARMENT_SOFTNESS = 40.0


def build_photo_network(widths: tuple[int, ...] = (24, 48, 96, 192), dropout: float = 0.3) -> keras.Model:
    """Double 3×3 conv-BN-ReLU blocks with max-pooling, global average pooling, a dense softmax: ~0.24 GFLOP."""
    inputs = keras.Input(shape=PHOTO_INPUT_SHAPE, name="photo")
    x = inputs
    for filters in widths:
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fashion_mnist_photo")


def to_photo_input(crops: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 3) uint8 → float32 in [0, 1], the scaling core.model uses for the photo network."""
    return np.asarray(crops, dtype=np.float32) / 255.0


# --------------------------------------------------------------------------- Fashion-MNIST as photos


def upsample(images: np.ndarray, side: int = PHOTO_SIDE) -> np.ndarray:
    """(N, 28, 28) uint8 → (N, side, side) float32, bilinear."""
    return np.stack(
        [
            np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32)
            for image in images
        ]
    )


def draw_as_photos(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fashion-MNIST images as catalogue shots: negated back to a dark garment on white (the dataset was made
    by negating product photos), the garment tinted with a random colour, the background a random light grey
    or cream, a little sensor noise. (N, 64, 64, 3) uint8."""
    values = upsample(images)
    garment = np.clip(values / GARMENT_SOFTNESS, 0.0, 1.0)[..., np.newaxis]
    luma = (WHITE - values)[..., np.newaxis]
    count = len(images)
    tint = rng.uniform(0.45, 1.25, (count, 1, 1, PHOTO_CHANNELS)).astype(np.float32)
    grey = rng.random(count) < 0.3
    tint[grey] = tint[grey].mean(axis=-1, keepdims=True)
    background = rng.uniform(215.0, 255.0, (count, 1, 1, 1)) * rng.uniform(0.94, 1.0, (count, 1, 1, PHOTO_CHANNELS))
    drawn = garment * np.clip(luma * tint, 0.0, WHITE) + (1.0 - garment) * background
    drawn += rng.normal(0.0, 3.0, drawn.shape)
    return np.clip(np.round(drawn), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- augmentation


def random_resized_crop(image: np.ndarray, rng: np.random.Generator, min_scale: float) -> np.ndarray:
    """A random square-ish part of the crop (scale of its area, aspect 3:4 to 4:3), resized back."""
    side = image.shape[0]
    area = rng.uniform(min_scale, 1.0) * side * side
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    width = int(min(side, round(np.sqrt(area * aspect))))
    height = int(min(side, round(np.sqrt(area / aspect))))
    top, left = rng.integers(0, side - height + 1), rng.integers(0, side - width + 1)
    part = Image.fromarray(image[top : top + height, left : left + width])
    return np.asarray(part.resize((side, side), Image.Resampling.BILINEAR), dtype=np.uint8)


def jitter_colour(images: np.ndarray, rng: np.random.Generator, strength: float, grey_share: float) -> np.ndarray:
    """Brightness, contrast and saturation changed by up to ±strength, channel gains by a little; a share of
    the images made grey (a colour the garment does not have must not decide its class)."""
    values = images.astype(np.float32)
    count = len(values)
    shape = (count, 1, 1, 1)
    grey = values.mean(axis=-1, keepdims=True)
    saturation = rng.uniform(1 - strength, 1 + strength, shape)
    values = grey + (values - grey) * saturation
    mean = values.mean(axis=(1, 2, 3), keepdims=True)
    values = mean + (values - mean) * rng.uniform(1 - strength, 1 + strength, shape)
    values = values * rng.uniform(1 - strength, 1 + strength, shape)
    values = values * rng.uniform(1 - strength / 4, 1 + strength / 4, (count, 1, 1, PHOTO_CHANNELS))
    make_grey = rng.random(count) < grey_share
    values[make_grey] = values[make_grey].mean(axis=-1, keepdims=True)
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def augment(
    crops: np.ndarray, rng: np.random.Generator, min_scale: float, strength: float, grey_share: float
) -> np.ndarray:
    """Random resized crops, left-right flips (never up-down) and colour jitter."""
    cropped = np.stack([random_resized_crop(crop, rng, min_scale) for crop in crops])
    flip = rng.random(len(cropped)) < 0.5
    cropped[flip] = cropped[flip, :, ::-1]
    return jitter_colour(cropped, rng, strength, grey_share)


def photo_epoch_data(
    photo_crops: np.ndarray,
    photo_allowed: np.ndarray,
    photo_repeats: int,
    fashion_images: np.ndarray,
    fashion_labels: np.ndarray,
    fashion_per_epoch: int,
    rng: np.random.Generator,
    min_scale: float,
    strength: float,
    grey_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch: every training crop `photo_repeats` times, augmented afresh, and `fashion_per_epoch`
    Fashion-MNIST training images drawn as photos (also augmented); (N, 64, 64, 3) uint8 and (N, 10) masks,
    shuffled."""
    chosen = rng.choice(len(fashion_images), size=min(fashion_per_epoch, len(fashion_images)), replace=False)
    drawn = draw_as_photos(fashion_images[chosen], rng)
    images = [augment(drawn, rng, min_scale, strength, grey_share)]
    targets = [one_hot_masks(fashion_labels[chosen])]
    for _ in range(photo_repeats):
        images.append(augment(photo_crops, rng, min_scale, strength, grey_share))
        targets.append(photo_allowed.astype(np.float32))
    images_all, targets_all = np.concatenate(images), np.concatenate(targets)
    order = rng.permutation(len(images_all))
    return images_all[order], targets_all[order]
