"""The network that assets/fashion_mnist.h5 holds."""
from __future__ import annotations

import keras
from keras import layers

from core.labels import NUM_CLASSES

INPUT_SHAPE = (28, 28, 1)


def _conv_block(x, filters: int, dropout: float):
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D()(x)
    return layers.Dropout(dropout)(x)


def build_cnn(width: int = 32, dense_units: int = 256, dropout: float = 0.25) -> keras.Model:
    """A VGG-style CNN: two double-conv blocks with batch norm, then a dense head. Input: [0, 1] floats."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = _conv_block(inputs, width, dropout)
    x = _conv_block(x, width * 2, dropout)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout * 2)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fashion_mnist_cnn")
