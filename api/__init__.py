"""The HTTP layer: request parsing, response models and error answers. The work happens in core/."""
from flask import current_app

from core.model import ModelWrapper

MODEL_EXTENSION = "max_fashion_mnist_model"


def served_model() -> ModelWrapper:
    """The one ModelWrapper this process loaded at start-up (app.create_app puts it here)."""
    return current_app.extensions[MODEL_EXTENSION]
