"""The networks assets/fashion_mnist.h5 can hold. Input: (28, 28, 1) floats in [0, 1]; output: 10 softmax."""

from __future__ import annotations

import keras
from keras import layers

from core.labels import NUM_CLASSES

INPUT_SHAPE = (28, 28, 1)
ARCHITECTURES = ("vgg", "resnet")


def _conv_bn_relu(x, filters: int, strides: int = 1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _vgg_block(x, filters: int, dropout: float):
    x = _conv_bn_relu(_conv_bn_relu(x, filters), filters)
    x = layers.MaxPooling2D()(x)
    return layers.Dropout(dropout)(x)


def _residual_block(x, filters: int, strides: int):
    shortcut = x
    y = _conv_bn_relu(x, filters, strides)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def _classifier(x, dense_units: int, dropout: float):
    if dense_units:
        x = layers.Dense(dense_units, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)


def build_vgg(widths: tuple[int, ...] = (32, 64), dense_units: int = 256, dropout: float = 0.25) -> keras.Model:
    """Double-conv blocks with batch norm and max-pooling, then a dense head: cheap to run on a CPU."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for filters in widths:
        x = _vgg_block(x, filters, dropout)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _classifier(x, dense_units, dropout * 2), name="fashion_mnist_vgg")


def build_resnet(
    widths: tuple[int, ...] = (32, 64, 128), blocks_per_stage: int = 1, dense_units: int = 0, dropout: float = 0.2
) -> keras.Model:
    """A small ResNet: one residual stage per width, halving the resolution between stages."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = _conv_bn_relu(inputs, widths[0])
    for stage, filters in enumerate(widths):
        for block in range(blocks_per_stage):
            x = _residual_block(x, filters, strides=2 if stage > 0 and block == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _classifier(x, dense_units, dropout), name="fashion_mnist_resnet")


def build_model(
    arch: str, widths: tuple[int, ...], dense_units: int, dropout: float, blocks_per_stage: int = 1
) -> keras.Model:
    if arch == "vgg":
        return build_vgg(widths, dense_units, dropout)
    if arch == "resnet":
        return build_resnet(widths, blocks_per_stage, dense_units, dropout)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}")
