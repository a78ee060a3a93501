"""The ten Fashion-MNIST classes, in the dataset's own label order."""

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
# Each network has one output more than the classes: p(none of the ten), trained on pictures of other things
# (training/train_none.py). It is a score, never a class: answers stay the ten classes.
NONE_OUTPUT = NUM_CLASSES
NETWORK_OUTPUTS = NUM_CLASSES + 1


def labels_as_records() -> list[dict]:
    """The labels as the API lists them: [{"id": 0, "name": "T-shirt/top"}, ...]."""
    return [{"id": index, "name": name} for index, name in enumerate(CLASS_NAMES)]
