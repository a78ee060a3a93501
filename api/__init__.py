"""The HTTP layer: request parsing, response models and error answers. The work happens in core/."""

from flask import current_app

from config import Settings
from core.model import ModelWrapper

MODEL_EXTENSION = "max_fashion_mnist_model"


def served_model() -> ModelWrapper:
    """The one ModelWrapper this process loaded at start-up (app.create_app puts it here)."""
    return current_app.extensions[MODEL_EXTENSION]


def served_settings() -> Settings:
    """The settings this process was started with: the served model was built from them."""
    return served_model().settings
