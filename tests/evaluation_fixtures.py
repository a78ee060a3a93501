"""A small measured evaluation, made by hand: what training.evaluate would have measured on 20 test images and
6 photos in each held-out part (validation and final check), for the tests of the metrics document and of the
model card (no model, no TensorFlow)."""

from __future__ import annotations

import numpy as np

from training.evaluate import Configuration, Measured, RuntimeRun, build_metrics
from training.photo_validation import ValidationPhotos
from training.photos import PhotoSet, allowed_mask

KERAS_SHA256 = "ab" * 32
ONNX_SHA256 = "cd" * 32
LABELS = np.arange(20) % 10
PHOTO_FOLDERS = np.array(["t-shirt", "t-shirt", "pants", "shoes", "shoes", "hoodie"])
PHOTO_KIDS = np.array([False, True, False, False, False, False])
LATENCY = {
    "batch_1": 0.2,
    "batch_1_p90": 0.25,
    "batch_64_per_image": 0.05,
    "batch_64_per_image_p90": 0.06,
    "repeats_batch_1": 300,
    "repeats_batch_64": 50,
    "warmup_calls": 10,
    "intra_op_threads": 1,
    "inter_op_threads": 1,
    "cpu_count": 2,
}
NETWORK = {
    "name": "tiny_net",
    "parameters": 1234,
    "layers": [
        {"name": "conv", "type": "Conv2D", "detail": "3×3, 8 filters", "output_shape": [28, 28, 8], "parameters": 72}
    ],
}
RECORD = {
    "model_sha256": KERAS_SHA256,
    "command": "python -m training.train --epochs 30 --arch resnet",
    "arguments": {"epochs": 30, "arch": "resnet", "widths": [32, 64], "flip": True, "learning_rate": 0.002},
    "data": {
        "fashion_mnist": {"train_images": 55000, "validation_images": 5000},
        "photos": {
            "root": "clothing-photos/train",
            "train_photos": 2236,
            "validation_photos": 395,
            "train_senders": 160,
            "validation_senders": 60,
            "split": {
                "by": "sender",
                "validation_share": 0.15,
                "final_check_share": 0.15,
                "large_sender": 100,
                "seed": 7,
            },
        },
    },
    "selection": {"best_epoch": 27, "fashion_mnist_validation_accuracy": 0.951, "photo_validation_accuracy": 0.873},
    "history": [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}],
    "trained_at": "2001-01-31T10:00:00Z",
    "duration_s": 1800.0,
    "versions": {"keras": "3.15.1"},
}


def probabilities(answers: np.ndarray, confidence: float = 0.91) -> np.ndarray:
    out = np.full((len(answers), 10), (1 - confidence) / 9)
    out[np.arange(len(answers)), answers] = confidence
    return out


def wrong(answers: np.ndarray, *indices: int) -> np.ndarray:
    """The answers with the given images' classes moved on by one."""
    changed = np.array(answers)
    changed[list(indices)] = (changed[list(indices)] + 1) % 10
    return changed


def configuration(test_answers: np.ndarray, photo_answers: np.ndarray | None, slowdown: float = 1.0) -> Configuration:
    latency = {**LATENCY, "batch_1": LATENCY["batch_1"] * slowdown}
    photos = (
        None
        if photo_answers is None
        else {"validation": probabilities(photo_answers), "final_check": probabilities(wrong(photo_answers, 0))}
    )
    return Configuration(probabilities(test_answers), photos, latency)


def part_photos(part: str) -> ValidationPhotos:
    photos = PhotoSet(
        np.zeros((len(PHOTO_FOLDERS), 28, 28), np.uint8),
        np.stack([allowed_mask(f) for f in PHOTO_FOLDERS]),
        PHOTO_FOLDERS,
        np.array([f"{f}/{i}.jpg" for i, f in enumerate(PHOTO_FOLDERS)]),
        np.zeros((len(PHOTO_FOLDERS), 64, 64, 3), np.uint8),
        np.array(["1", "1", "2", "2", "3", "3"]),
        PHOTO_KIDS,
    )
    return ValidationPhotos(
        photos,
        {
            "directory": "clothing-photos/train",
            "part": part,
            "senders": 3,
            "split": "by sender",
            "validation_share": 0.15,
            "final_check_share": 0.15,
            "large_sender": 100,
            "split_seed": 42,
        },
    )


def validation_photos() -> ValidationPhotos:
    return part_photos("validation")


def measured(with_photos: bool = True, failures_part: str = "validation") -> Measured:
    """ONNX Runtime gets 2 of 20 test images wrong (3 with flip averaging), TensorFlow 1; on the validation
    photos ONNX Runtime answers Bag for one t-shirt and Sneaker (right: footwear) for a shoe, and on the final
    check also gets the first t-shirt wrong."""
    photo_answers = np.array([0, 8, 1, 7, 9, 2]) if with_photos else None
    runs = {
        "onnxruntime": RuntimeRun(
            "fashion_mnist.onnx",
            ONNX_SHA256,
            "1.32.0",
            configuration(wrong(LABELS, 3, 4), photo_answers),
            configuration(wrong(LABELS, 3, 4, 5), photo_answers, 2.0),
        ),
        "tensorflow": RuntimeRun(
            "fashion_mnist.h5",
            KERAS_SHA256,
            "2.21.0",
            configuration(wrong(LABELS, 3), photo_answers),
            configuration(LABELS, photo_answers, 2.0),
        ),
    }
    photos = {part: part_photos(part) for part in ("validation", "final_check")} if with_photos else None
    networks = (
        {
            "validation": {
                "fashion_mnist": probabilities(np.array([0, 0, 1, 8, 8, 8])),
                "photo": probabilities(np.array([0, 0, 1, 7, 8, 8])),
            },
            "final_check": {
                "fashion_mnist": probabilities(np.array([0, 8, 8, 8, 8, 8])),
                "photo": probabilities(np.array([0, 0, 1, 8, 8, 8])),
            },
        }
        if with_photos
        else None
    )
    return Measured(
        runs,
        LABELS,
        photos,
        failures_shown=1,
        failures_part=failures_part,
        networks=networks,
        none_of_the_ten=NONE_OF_THE_TEN if with_photos else None,
    )


# training/none_of_the_ten.py's report: 2 of 40 garments and 17 of 20 others flagged on the final check.
NONE_OF_THE_TEN = {
    "threshold": 0.25,
    "fashion_mnist_test": {"images": 20, "flagged": 0.05},
    "validation": {
        "garment_photos": 40,
        "none_photos": 20,
        "auroc": 0.951,
        "baseline_auroc": 0.8,
        "flagged_garments": 0.05,
        "flagged_none": 0.9,
        "garment_folders": {"shoes": {"photos": 40, "flagged": 0.05}},
        "none_folders": {"hat": {"photos": 20, "flagged": 0.9}},
    },
    "final_check": {
        "garment_photos": 40,
        "none_photos": 20,
        "auroc": 0.912,
        "baseline_auroc": 0.7,
        "flagged_garments": 0.05,
        "flagged_none": 0.85,
        "garment_folders": {"shoes": {"photos": 40, "flagged": 0.05}},
        "none_folders": {"hat": {"photos": 12, "flagged": 1.0}, "skirt": {"photos": 8, "flagged": 0.625}},
    },
}


def metrics(
    with_photos: bool = True,
    training_record: str | None = None,
    photo_network: dict | None = None,
    failures_part: str = "validation",
) -> dict:
    provenance = {
        "sha256": KERAS_SHA256,
        "model_file": "fashion_mnist.h5",
        "runtime_requested": "auto",
        "training_record": training_record,
        "evaluated_at": "2001-02-03T04:05:06Z",
        "command": "python -m training.evaluate",
        **({"photo_network": photo_network} if photo_network else {}),
    }
    return build_metrics(measured(with_photos, failures_part), NETWORK, provenance)
