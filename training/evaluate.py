"""Measure the shipped model on the official Fashion-MNIST test set, through the server's own code path.

Usage: python training/evaluate.py [--data-dir D] [--model PATH] [--checksum PATH] [--onnx-model PATH]
                                   [--onnx-checksum PATH] [--runtimes R ...] [--output-dir assets]

The server runs the network with one of two runtimes (core/runtimes.py): ONNX Runtime on the int8 export
made by training/export_onnx.py (the default) or TensorFlow on the Keras file itself (the source of truth).
Int8 weights and activations shift the probabilities a little, so each runtime is measured on its own, each
with and without test-time flip averaging: four core.model.ModelWrapper configurations, loaded one at a time
(sha256 verified) and fed with core.model.to_model_batch exactly as the server does, so the figures describe
what the API serves.
Writes into the output directory:
  model_metrics.json    the figures, keyed by the Keras file's sha256 (the server trusts them only for that
                        file); the top level holds the default runtime's figures, "runtimes" each runtime's,
                        and the ONNX section the export's own sha256 (core.metrics.served_figures)
  confusion_matrix.png  the 10x10 test-set confusion matrix of the default runtime
  MODEL_CARD.md         a model card built from the figures
The figures: top-1 accuracy, per-class precision/recall/F1, expected calibration error, parameter count and
latency at batch 1 and batch 64, each also with test-time flip averaging (TTA_FLIP=true), how often the two
runtimes agree on the top-1 class, and the project's targets with pass/fail. Missing a target is reported,
not an error: the exit code stays 0.
TensorFlow, Keras, ONNX Runtime and matplotlib are imported inside the functions that need them, so the pure
functions (confusion_matrix, per_class_scores, runtime_section, render_model_card, ...) import cheaply in tests.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np

import config
from core.labels import CLASS_NAMES, NUM_CLASSES
from training.dataset import add_data_dir_argument

if TYPE_CHECKING:
    from core.model import ModelWrapper

logger = logging.getLogger("training.evaluate")

METRICS_FILE = "model_metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
MODEL_CARD_FILE = "MODEL_CARD.md"
PHOTO_LIKE_FILE = "photo_like_metrics.json"  # written by training/evaluate_photos.py
DEFAULT_BATCH_SIZE = 500
DECIMALS = 4
TOP_CONFUSIONS = 6
ECE_BINS = 15
LATENCY_BATCH = 64  # the "batch 64" of the latency figures and targets
LATENCY_REPEATS_BATCH_1 = 300
LATENCY_REPEATS_BATCH_64 = 50
LATENCY_WARMUP_CALLS = 10
# The runtimes measured, the default served one first (INFERENCE_RUNTIME=auto picks ONNX Runtime whenever a
# verified export of the Keras file is there): the top-level figures are the first one measured.
RUNTIME_ORDER = ("onnxruntime", "tensorflow")
RUNTIME_TITLES = {"onnxruntime": "ONNX Runtime (int8 ONNX export)", "tensorflow": "TensorFlow (float32 Keras file)"}
VERSION_KEYS = {"onnxruntime": "onnxruntime_version", "tensorflow": "tensorflow_version"}
# A runtime section's figures, each copied to the top level for the default runtime; model_file and sha256
# stay per runtime (the top level's are the Keras file's, which the whole document is keyed by).
RUNTIME_FIGURES = ("test_accuracy", "macro_f1", "expected_calibration_error", "latency_ms",
                   "test_accuracy_flip_averaging", "expected_calibration_error_flip_averaging",
                   "latency_ms_flip_averaging")
# The targets, for the default (no test-time augmentation) configuration:
# (key, description, comparison, limit).
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("test_accuracy", "Top-1 test accuracy", ">=", 0.955),
    ("parameters", "Parameters", "<=", 2_000_000),
    ("latency_batch_1_ms", "Latency at batch 1, ms per call", "<=", 2.0),
    ("latency_batch_64_ms_per_image", f"Latency at batch {LATENCY_BATCH}, ms per image", "<=", 0.3),
)


# --------------------------------------------------------------------------- pure metrics (numpy only)

def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """(n, n) int64 counts; row = true class, column = predicted class (the usual convention)."""
    true = np.asarray(y_true, dtype=np.int64).ravel()
    pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} labels but y_pred has {pred.size}")
    for name, values in (("y_true", true), ("y_pred", pred)):
        if values.size and (values.min() < 0 or values.max() >= n):
            raise ValueError(f"{name} holds labels outside 0..{n - 1}")
    return np.bincount(true * n + pred, minlength=n * n).reshape(n, n)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise division that yields 0 where the denominator is 0 (no prediction / no support)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def class_labels(n: int, labels: Sequence[str] | None = None) -> list[str]:
    """The Fashion-MNIST names for a 10-class matrix, generic names otherwise (small test matrices)."""
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} classes")
        return list(labels)
    return list(CLASS_NAMES) if n == NUM_CLASSES else [f"class {i}" for i in range(n)]


def _score_arrays(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unrounded precision, recall, F1 and support per class.

    A class never predicted gets precision 0 and one with no support gets recall 0 (sklearn's
    zero_division=0), so the figures stay finite.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    true_positives = np.diag(cm)
    support = cm.sum(axis=1)
    precision = _safe_ratio(true_positives, cm.sum(axis=0))
    recall = _safe_ratio(true_positives, support)
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def per_class_scores(cm: np.ndarray, labels: Sequence[str] | None = None) -> list[dict]:
    """Precision, recall, F1 (rounded to 4 decimals) and support of every class, as the metrics JSON lists them."""
    precision, recall, f1, support = _score_arrays(cm)
    names = class_labels(len(support), labels)
    return [{"id": i, "label": names[i], "precision": round(float(precision[i]), DECIMALS),
             "recall": round(float(recall[i]), DECIMALS), "f1": round(float(f1[i]), DECIMALS),
             "support": int(support[i])} for i in range(len(support))]


def accuracy(cm: np.ndarray) -> float:
    """Top-1 accuracy: the diagonal over every count (0 for an empty matrix)."""
    cm = np.asarray(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean of the per-class F1: every class counts the same, however many images it has."""
    f1 = _score_arrays(cm)[2]
    return float(f1.mean()) if f1.size else 0.0


def largest_confusions(cm: np.ndarray, labels: Sequence[str] | None = None,
                       k: int = TOP_CONFUSIONS) -> list[dict]:
    """The k largest off-diagonal cells, largest first: where the model goes wrong most often."""
    cm = np.asarray(cm)
    names = class_labels(cm.shape[0], labels)
    off = cm.astype(np.int64).copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    cells = [np.unravel_index(i, cm.shape) for i in order]
    return [{"true": names[t], "predicted": names[p], "count": int(cm[t, p]),
             "share_of_true": round(float(cm[t, p] / cm[t].sum()), DECIMALS) if cm[t].sum() else 0.0}
            for t, p in cells if off[t, p] > 0]


def expected_calibration_error(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Top-1 ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size.

    Accuracy says how often the model is right; ECE says whether its probabilities can be read as such.
    Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 falls in the first bin.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if probabilities.ndim != 2 or probabilities.shape[0] != labels.size:
        raise ValueError(f"probabilities of shape {probabilities.shape} for {labels.size} labels")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if not labels.size:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence, side="left")
    # sum over bins of |n_b * acc_b - n_b * conf_b| / N  ==  sum of (n_b / N) * |acc_b - conf_b|
    gaps = np.abs(np.bincount(which, correct, bins) - np.bincount(which, confidence, bins))
    return float(gaps.sum() / labels.size)


def _target(comparison: str, limit: float, measured: float | None) -> dict:
    if comparison not in (">=", "<="):
        raise ValueError(f"unknown comparison {comparison!r}")
    passed = measured is not None and (measured >= limit if comparison == ">=" else measured <= limit)
    return {"limit": limit, "comparison": comparison, "measured": measured, "pass": bool(passed)}


def compute_targets(test_accuracy: float, parameters: int, latency_ms: dict | None) -> dict:
    """Each target with its limit, the measured value and pass; a value not measured fails."""
    latency_ms = latency_ms or {}
    measured = {"test_accuracy": test_accuracy, "parameters": parameters,
                "latency_batch_1_ms": latency_ms.get("batch_1"),
                "latency_batch_64_ms_per_image": latency_ms.get("batch_64_per_image")}
    return {key: _target(comparison, limit, measured[key]) for key, _, comparison, limit in TARGETS}


# --------------------------------------------------------------------------- runtimes (pure)

class Measurement(NamedTuple):
    """One serving configuration on the test set: every image's probabilities (kept to compare runtimes
    image by image), the confusion matrix and ECE they give, and the latency measured (None: not timed)."""
    probabilities: np.ndarray
    cm: np.ndarray
    ece: float
    latency: dict | None


def measurement(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray,
                latency: dict | None = None) -> Measurement:
    """The figures one configuration's probabilities give against the true labels."""
    probabilities = np.asarray(probabilities)
    cm = confusion_matrix(labels, np.argmax(probabilities, axis=1), probabilities.shape[1])
    return Measurement(probabilities, cm, round(expected_calibration_error(probabilities, labels), DECIMALS),
                       latency)


def ordered_runtimes(requested: Sequence[str]) -> list[str]:
    """The runtimes to measure, each once, the default served one first: it gives the top-level figures."""
    unknown = sorted(set(requested) - set(RUNTIME_ORDER))
    if unknown or not requested:
        raise ValueError(f"runtimes must be among {', '.join(RUNTIME_ORDER)}, got {list(requested)}")
    return [name for name in RUNTIME_ORDER if name in requested]


def runtime_section(runtime: str, model_file: str, sha256: str, plain: Measurement, flipped: Measurement,
                    version: str) -> dict:
    """One runtime's entry under "runtimes": the figures core.metrics.served_figures hands the server when
    that runtime serves, with the file it ran (the ONNX export's sha256 ties ONNX Runtime's figures to the
    very export measured: a re-export may quantize differently) and the runtime's version."""
    if runtime not in VERSION_KEYS:
        raise ValueError(f"unknown runtime {runtime!r}")
    return {"model_file": model_file, "sha256": sha256,
            "test_accuracy": round(accuracy(plain.cm), DECIMALS), "macro_f1": round(macro_f1(plain.cm), DECIMALS),
            "expected_calibration_error": plain.ece, "latency_ms": plain.latency,
            "test_accuracy_flip_averaging": round(accuracy(flipped.cm), DECIMALS),
            "expected_calibration_error_flip_averaging": flipped.ece, "latency_ms_flip_averaging": flipped.latency,
            VERSION_KEYS[runtime]: version}


def top1_agreement(first: np.ndarray, second: np.ndarray) -> dict:
    """How often two runtimes give an image the same top-1 class, and their largest probability difference.

    Accuracy alone could hide int8 quantization changing answers both ways; agreement counts every image
    whose answer changed. Nothing to compare agrees trivially (share 1.0).
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.ndim != 2 or first.shape != second.shape:
        raise ValueError(f"probabilities of shapes {first.shape} and {second.shape}")
    same = np.argmax(first, axis=1) == np.argmax(second, axis=1) if len(first) else np.zeros(0, dtype=bool)
    images = len(first)
    return {"images": images, "top1": round(float(same.mean()), DECIMALS) if images else 1.0,
            "disagreements": int(images - same.sum()),
            "max_probability_difference": round(float(np.abs(first - second).max()), DECIMALS) if images else 0.0}


def runtime_agreement(measured: dict[str, tuple[Measurement, Measurement]]) -> dict | None:
    """Top-1 agreement of the first two runtimes measured, without and with flip averaging (None for one)."""
    if len(measured) < 2:
        return None
    (first, (first_plain, first_flipped)), (second, (second_plain, second_flipped)) = list(measured.items())[:2]
    return {"between": [first, second], **top1_agreement(first_plain.probabilities, second_plain.probabilities),
            "flip_averaging": top1_agreement(first_flipped.probabilities, second_flipped.probabilities)}


def with_runtimes(metrics: dict, sections: dict[str, dict], agreement: dict | None = None) -> dict:
    """build_metrics' document completed with every runtime's section, the default runtime's figures at the
    top level (what an older reader of the file expects: the figures of what is served by default), each
    runtime's version, and the targets judged on the default runtime."""
    if not sections:
        raise ValueError("no runtime measured")
    default = ordered_runtimes(list(sections))[0]
    figures = sections[default]
    if metrics.get("test_accuracy") != figures.get("test_accuracy"):
        raise ValueError(f"the top-level confusion matrix is not {default}'s: accuracy "
                         f"{metrics.get('test_accuracy')} against {figures.get('test_accuracy')}")
    out = {**metrics, **{key: figures[key] for key in RUNTIME_FIGURES if key in figures},
           **{VERSION_KEYS[name]: section[VERSION_KEYS[name]] for name, section in sections.items()
              if VERSION_KEYS[name] in section}}
    out["targets"] = compute_targets(out["test_accuracy"], out["parameters"], out.get("latency_ms"))
    if agreement:
        out["runtime_agreement"] = agreement
    out["runtime"] = default
    out["runtimes"] = {name: sections[name] for name in ordered_runtimes(list(sections))}
    return out


# --------------------------------------------------------------------------- model card (pure text)

def _pct(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f} %"


def _thousands(value: int) -> str:
    """10000 → '10 000', the SI way of grouping digits used throughout the card."""
    return f"{value:,}".replace(",", " ")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _widths(training: dict) -> list[int]:
    return [int(w) for w in training.get("widths", (32, 64))]


def _head_text(dense_units: int) -> str:
    return f"dense head of {dense_units} units" if dense_units else "no hidden dense layer"


def architecture_summary(training: dict | None) -> str:
    """One sentence on the network, generated from train.py's flags so it follows the shipped recipe."""
    if not training:
        return "A convolutional network; see `training/architecture.py` and `training/train.py`."
    t, widths = training, _widths(training)
    arch, dense = t.get("arch", "vgg"), int(t.get("dense_units", 0))
    width_text = ", ".join(str(w) for w in widths)
    if arch == "vgg":
        return (f"VGG-style: {_plural(len(widths), 'double-conv block')} of widths {width_text} with batch norm "
                f"and max-pooling, {_head_text(dense)} (`training/architecture.py`, `build_vgg`).")
    if arch == "resnet":
        blocks = int(t.get("blocks_per_stage", 1))
        return (f"small ResNet: stages of widths {width_text}, {_plural(blocks, 'residual block')} each, "
                f"global average pooling, {_head_text(dense)} (`training/architecture.py`, `build_resnet`).")
    return f"Architecture `{arch}`; see `training/architecture.py`."


def _classifier_lines(features: str, dense_units: int, dropout: float) -> list[str]:
    if dense_units:
        return [f"- Head: {features} → Dense {dense_units} (no bias) → BatchNorm → ReLU → Dropout {dropout} "
                "→ Dense 10 softmax."]
    return [f"- Head: {features} → Dropout {dropout} → Dense 10 softmax."]


def _vgg_lines(widths: list[int], dense_units: int, dropout: float) -> list[str]:
    lines = [f"- Block {i}: 2 × [Conv 3×3, {w} filters, no bias → BatchNorm → ReLU] → MaxPool 2×2 "
             f"→ Dropout {dropout}." for i, w in enumerate(widths, start=1)]
    side = 28 // 2 ** len(widths)  # each 2×2 max-pool floors the side
    return lines + _classifier_lines(f"Flatten ({side * side * widths[-1]})", dense_units, round(dropout * 2, 4))


def _resnet_lines(widths: list[int], blocks: int, dense_units: int, dropout: float) -> list[str]:
    lines = [f"- Stem: Conv 3×3, {widths[0]} filters, no bias → BatchNorm → ReLU."]
    side = 28
    for stage, w in enumerate(widths, start=1):
        if stage > 1:
            side = -(-side // 2)  # stride 2 with "same" padding rounds up
        downsample = "; the first halves the resolution (1×1 projection shortcut)" if stage > 1 else ""
        lines.append(f"- Stage {stage} ({side}×{side}): {blocks} × residual block [Conv 3×3, {w} filters → "
                     f"BatchNorm → ReLU → Conv 3×3 → BatchNorm, + shortcut] → ReLU{downsample}.")
    return lines + _classifier_lines(f"global average pooling ({widths[-1]})", dense_units, dropout)


def _architecture_lines(training: dict | None) -> list[str]:
    """Layer-by-layer description of training/architecture.py with the flags train.py used."""
    if not training:
        return []
    t, widths = training, _widths(training)
    arch, dense, dropout = t.get("arch", "vgg"), int(t.get("dense_units", 0)), float(t.get("dropout", 0.0))
    lines = ["- Input: 28×28×1 grayscale, scaled to [0, 1] (light garment on a dark background)."]
    if arch == "vgg":
        return lines + _vgg_lines(widths, dense, dropout)
    if arch == "resnet":
        return lines + _resnet_lines(widths, int(t.get("blocks_per_stage", 1)), dense, dropout)
    return lines


def _augmentation_text(t: dict) -> str:
    """Only the augmentations that are switched on, so the card lists what training really did."""
    steps = []
    if t.get("max_shift"):
        steps.append(f"random translation of up to ±{t['max_shift']} px (black fill)")
    if t.get("flip", True):
        steps.append("left-right flip (never up-down)")
    if t.get("max_rotation"):
        steps.append(f"rotation of up to ±{t['max_rotation']:g}°")
    if t.get("max_zoom"):
        steps.append(f"zoom of up to ±{100 * t['max_zoom']:g} %")
    if t.get("contrast"):
        steps.append(f"random contrast (factor {t['contrast']:g})")
    if t.get("brightness"):
        steps.append(f"random brightness (up to ±{t['brightness']:g} of the [0, 1] range)")
    if t.get("erasing"):
        steps.append(f"random erasing with probability {t['erasing']:g}")
    return ", ".join(steps) if steps else "none"


def _optimizer_text(t: dict) -> str:
    rate, warmup = t["learning_rate"], t.get("warmup_epochs", 0)
    schedule = (f"linear warm-up from {rate / 10:g} over {warmup:g} epochs, then cosine decay to 0, "
                f"{t['epochs']} epochs in all" if warmup else f"cosine decay to 0 over {t['epochs']} epochs")
    return (f"AdamW, peak learning rate {rate:g}, decoupled weight decay {t['weight_decay']:g}, {schedule}, "
            f"batch size {t['batch_size']}")


def _training_lines(training: dict | None) -> list[str]:
    if not training:
        return ["- See `training/train.py`; its flag defaults are the settings that produced the shipped model."]
    t = training
    return [
        f"- Optimizer: {_optimizer_text(t)}.",
        f"- Loss: categorical cross-entropy with label smoothing {t['label_smoothing']}.",
        f"- Augmentation (training only): {_augmentation_text(t)}.",
        f"- Model selection: {_thousands(t['val_size'])} images carved from the 60 000 training images "
        "(seeded permutation) form a validation split; the epoch with the best validation accuracy is kept. "
        "The test set is never used for training or selection.",
        f"- Seed: {t['seed']} (`keras.utils.set_random_seed`; CPU results may still vary in the last digits).",
    ]


NOT_MEASURED = "not measured"


def _ms(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.3f}"


def _with_p90(latency: dict | None, key: str) -> str:
    latency = latency or {}
    if latency.get(key) is None:
        return NOT_MEASURED
    p90 = latency.get(f"{key}_p90")
    return _ms(latency[key]) + (f" (p90 {_ms(p90)})" if p90 is not None else "")


def _ratio(slow: float | None, fast: float | None) -> str:
    return f"×{slow / fast:.2f}" if slow is not None and fast else NOT_MEASURED


def _threads_text(count: int | None) -> str:
    return "the runtime's choice (0)" if not count else str(count)


def runtime_sections(metrics: dict) -> dict[str, dict]:
    """Each measured runtime's figures, the default served one first. A file without a "runtimes" section
    predates the ONNX export, so its figures are TensorFlow's (as core.metrics.served_figures reads it)."""
    sections = metrics.get("runtimes")
    if sections:
        return {name: sections[name] for name in ordered_runtimes(list(sections))}
    if metrics.get("latency_ms") or metrics.get("expected_calibration_error") is not None:
        return {metrics.get("runtime", "tensorflow"): metrics}
    return {}


def runtime_title(runtime: str) -> str:
    """The runtime as the card names it, marked when it is the one the server uses by default."""
    title = RUNTIME_TITLES.get(runtime, runtime)
    return f"{title}, the default" if runtime == RUNTIME_ORDER[0] else title


def _figures_runtime_text(metrics: dict) -> str:
    """The runtime the top-level figures were measured with (a file without "runtime" predates ONNX)."""
    runtime = metrics.get("runtime", "tensorflow")
    return RUNTIME_TITLES.get(runtime, runtime)


def _figures_origin_text(metrics: dict) -> str:
    runtime = metrics.get("runtime", "tensorflow")
    default = ", the runtime the server uses by default" if runtime == RUNTIME_ORDER[0] else ""
    return f"measured with {_figures_runtime_text(metrics)}{default}"


def _serving_lines(metrics: dict) -> list[str]:
    """Which file the server runs and with what: the Keras file is the model, the ONNX file a derived export."""
    onnx = (metrics.get("runtimes") or {}).get("onnxruntime")
    keras_line = (f"- **File**: `{metrics.get('model_file', 'fashion_mnist.h5')}` (Keras HDF5, shipped in "
                  "`assets/`): the model itself, as `training/train.py` saved it, and the source of truth that "
                  "the ONNX export is made from")
    if not onnx:
        return [keras_line, "- **Served by**: TensorFlow, running the Keras file (no ONNX export measured)"]
    return [keras_line,
            f"- **Served by default as**: `{onnx['model_file']}`, its int8 export (`training/export_onnx.py`, "
            f"sha256 `{onnx['sha256']}`), run by ONNX Runtime: `INFERENCE_RUNTIME=auto` picks it whenever the "
            "export was made from this very Keras file (recorded in the export's metadata), and "
            "`INFERENCE_RUNTIME=tensorflow` runs the Keras file itself with TensorFlow"]


def _accuracy_cell(value: float | None) -> str:
    return NOT_MEASURED if value is None else _pct(value)


def _four(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.4f}"


def runtime_accuracy_lines(metrics: dict) -> list[str]:
    """A row per runtime: the same test set through each, so the int8 export's cost in accuracy shows."""
    sections = runtime_sections(metrics)
    if not sections:
        return []
    return ["| Runtime | Model file | Top-1 accuracy | Macro F1 | ECE | Top-1 with flip averaging |",
            "|---|---|---:|---:|---:|---:|",
            *[f"| {runtime_title(name)} | `{s.get('model_file', '?')}` | {_accuracy_cell(s.get('test_accuracy'))} | "
              f"{_four(s.get('macro_f1'))} | {_four(s.get('expected_calibration_error'))} | "
              f"{_accuracy_cell(s.get('test_accuracy_flip_averaging'))} |" for name, s in sections.items()]]


def agreement_lines(metrics: dict) -> list[str]:
    """How often the two runtimes give the same answer, image by image."""
    agreement = metrics.get("runtime_agreement")
    if not agreement:
        return []
    first, second = (RUNTIME_TITLES.get(name, name) for name in agreement["between"])
    flipped = agreement.get("flip_averaging")
    same = agreement["images"] - agreement["disagreements"]
    line = (f"- **Top-1 agreement** between {first} and {second}: the same class for {_thousands(same)} of the "
            f"{_thousands(agreement['images'])} test images ({_pct(agreement['top1'])})")
    if flipped:
        line += (f"; with flip averaging {_thousands(flipped['images'] - flipped['disagreements'])} "
                 f"({_pct(flipped['top1'])})")
    return [line + ". Largest difference between their probabilities for any class of any image: "
            f"{agreement['max_probability_difference']:.4f}."]


def read_photo_like_metrics(path: Path, model_sha256: str) -> dict | None:
    """training/evaluate_photos.py's figures, only when they were measured on this very model file."""
    try:
        photo = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return photo if photo.get("model_sha256") == model_sha256 else None


def _photo_like_lines(metrics: dict) -> list[str]:
    photo = metrics.get("photo_like")
    if not photo:
        return ["Not measured for this model file: run `python training/make_photo_like.py` and "
                "`python training/evaluate_photos.py`, then this script again."]
    per_class = photo.get("per_class_accuracy", {})
    return [
        f"- **Top-1 accuracy through the HTTP API**: {_pct(photo['accuracy'])} "
        f"({photo['correct']} of {_thousands(photo['count'])} images)",
        f"- Set: `{photo['photo_set']['command']}` (test images made photo-like: dark on light grey, "
        "200–1000 px, random margins, ±10° tilt, textured background, tint, noise, JPEG quality 60–95, some "
        "RGBA PNGs and EXIF-rotated JPEGs); measured with `python training/evaluate_photos.py`.",
        "",
        "| " + " | ".join(per_class) + " |",
        "|" + "---:|" * len(per_class),
        "| " + " | ".join(f"{value:.3f}" for value in per_class.values()) + " |",
    ]


def _calibration_lines(metrics: dict) -> list[str]:
    ece = metrics.get("expected_calibration_error")
    if ece is None:
        return ["Not measured: re-run `python training/evaluate.py`."]
    lines = [f"- **Expected calibration error (ECE)**: {ece:.4f} (top-1 confidence, {ECE_BINS} equal-width bins; "
             f"{_figures_origin_text(metrics)})"]
    tta = metrics.get("expected_calibration_error_flip_averaging")
    if tta is not None:
        lines.append(f"- With flip averaging (`TTA_FLIP=true`): {tta:.4f}")
    lines += [f"- {RUNTIME_TITLES.get(name, name)}: {_four(s.get('expected_calibration_error'))}, with flip "
              f"averaging {_four(s.get('expected_calibration_error_flip_averaging'))}"
              for name, s in runtime_sections(metrics).items() if name != metrics.get("runtime", "tensorflow")]
    meaning = ("ECE is the gap between the top-1 probability the model gives and how often it is right, "
               "averaged over confidence bins weighted by their number of test images: 0 would mean that "
               "answers given with 90 % probability are right 90 % of the time.")
    return [*lines, "", meaning]


def speed_rows(metrics: dict) -> list[str]:
    """The latency table's rows: each runtime without and with flip averaging, the default first."""
    rows = []
    for name, section in runtime_sections(metrics).items():
        for setting, key in (("off (default)", "latency_ms"), ("`TTA_FLIP=true`", "latency_ms_flip_averaging")):
            if section.get(key):  # only the first row is the server's default configuration
                title = runtime_title(name) if key == "latency_ms" else RUNTIME_TITLES.get(name, name)
                rows.append(f"| {title} | {setting} | {_with_p90(section[key], 'batch_1')} | "
                            f"{_with_p90(section[key], 'batch_64_per_image')} |")
    return rows


def _speedup_lines(metrics: dict) -> list[str]:
    """How much faster the default runtime is than the other one, without flip averaging."""
    sections = runtime_sections(metrics)
    if len(sections) < 2:
        return []
    (fast_name, fast), (slow_name, slow) = list(sections.items())[:2]
    fast_latency, slow_latency = fast.get("latency_ms") or {}, slow.get("latency_ms") or {}
    return ["", f"{RUNTIME_TITLES.get(fast_name, fast_name)} runs "
                f"{_ratio(slow_latency.get('batch_1'), fast_latency.get('batch_1'))} as fast as "
                f"{RUNTIME_TITLES.get(slow_name, slow_name)} at batch 1 and "
                f"{_ratio(slow_latency.get('batch_64_per_image'), fast_latency.get('batch_64_per_image'))} as fast "
                f"at batch {LATENCY_BATCH} (without flip averaging)."]


def _versions_text(metrics: dict) -> str:
    versions = [f"{label} {metrics[key]}" for label, key in (("ONNX Runtime", "onnxruntime_version"),
                                                             ("TensorFlow", "tensorflow_version"))
                if metrics.get(key)]
    return ", ".join(versions) if versions else "runtime versions unknown"


def _speed_lines(metrics: dict) -> list[str]:
    latency = metrics.get("latency_ms")
    if not latency:
        return ["Not measured: re-run `python training/evaluate.py`."]
    return [
        f"Median (p90 in brackets) over {LATENCY_REPEATS_BATCH_1} calls at batch 1 and "
        f"{LATENCY_REPEATS_BATCH_64} calls at batch {LATENCY_BATCH}, after {LATENCY_WARMUP_CALLS} warm-up calls, "
        "timing `ModelWrapper.predict_batch(to_model_batch(images))`: the model call the server makes "
        "(decoding and resizing an uploaded file are not included). Micro-batching off (`MAX_BATCH_SIZE=1`), "
        "one configuration loaded at a time.",
        "",
        f"| Runtime | Flip averaging | Batch 1, ms per call | Batch {LATENCY_BATCH}, ms per image |",
        "|---|---|---:|---:|",
        *speed_rows(metrics),
        *_speedup_lines(metrics),
        "",
        f"Machine: {latency.get('cpu_count', '?')} CPUs (`os.cpu_count()`), {_versions_text(metrics)}, "
        f"intra-op threads {_threads_text(latency.get('intra_op_threads'))}, "
        f"inter-op threads {_threads_text(latency.get('inter_op_threads'))} "
        "(`INTRA_OP_THREADS`, `INTER_OP_THREADS`). Latency depends on the machine and on what else runs on "
        "it; reproduce with `python training/evaluate.py`.",
    ]


def _tta_lines(metrics: dict) -> list[str]:
    intro = ("Off by default. With `TTA_FLIP=true` the server also classifies the left-right mirror of each "
             "image: the batch and its mirror images go through the network together, in one forward pass, and "
             "each image's two probability vectors are averaged (`core/runtimes.py`, `average_with_mirror`), with "
             "either runtime; `/model/metadata` then reports the flip-averaged test accuracy of the runtime "
             "serving.")
    tta_accuracy = metrics.get("test_accuracy_flip_averaging")
    latency, tta = metrics.get("latency_ms") or {}, metrics.get("latency_ms_flip_averaging") or {}
    if tta_accuracy is None:
        return [intro, "", "Not measured: re-run `python training/evaluate.py`."]
    gain = 100 * (tta_accuracy - metrics["test_accuracy"])
    others = ("; the Evaluation and Speed sections give every runtime's figures"
              if len(runtime_sections(metrics)) > 1 else "")
    return [
        f"{intro} The table was {_figures_origin_text(metrics)}{others}.",
        "",
        "| | `TTA_FLIP` off (default) | `TTA_FLIP=true` | Change |",
        "|---|---:|---:|---:|",
        f"| Top-1 test accuracy | {_pct(metrics['test_accuracy'])} | {_pct(tta_accuracy)} | {gain:+.2f} points |",
        f"| Batch 1, ms per call | {_ms(latency.get('batch_1'))} | {_ms(tta.get('batch_1'))} | "
        f"{_ratio(tta.get('batch_1'), latency.get('batch_1'))} |",
        f"| Batch {LATENCY_BATCH}, ms per image | {_ms(latency.get('batch_64_per_image'))} | "
        f"{_ms(tta.get('batch_64_per_image'))} | "
        f"{_ratio(tta.get('batch_64_per_image'), latency.get('batch_64_per_image'))} |",
    ]


def _target_value(key: str, value: float | None) -> str:
    if value is None:
        return NOT_MEASURED
    if key == "test_accuracy":
        return _pct(value)
    if key == "parameters":
        return _thousands(int(value))
    return f"{value:.3f} ms"


def _target_lines(metrics: dict) -> list[str]:
    targets = metrics.get("targets")
    if not targets:
        return ["Not measured: re-run `python training/evaluate.py`."]
    sign = {">=": "≥", "<=": "≤"}
    rows = [f"| {name} | {sign[t['comparison']]} {_target_value(key, t['limit'])} | "
            f"{_target_value(key, t['measured'])} | {'PASS' if t['pass'] else 'FAIL'} |"
            for key, name, _, _ in TARGETS if (t := targets.get(key))]
    return [f"Measured with {_figures_runtime_text(metrics)} and no test-time augmentation, on the machine above.",
            "",
            "| Target | Limit | Measured | Result |", "|---|---:|---:|---|", *rows]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def render_model_card(metrics: dict, training: dict | None = None) -> str:
    """The model card, as Markdown, built only from measured figures so it never disagrees with them.

    `training` is train.py's flag defaults (vars(parse_args([]))); without it the card points at train.py.
    """
    scores = metrics["per_class"]
    cm = np.asarray(metrics["confusion_matrix"])
    names = [s["label"] for s in scores]
    date = str(metrics.get("evaluated_at", ""))[:10]
    params = metrics.get("parameters")
    params_text = _thousands(params) if isinstance(params, int) else "unknown"
    sha = metrics.get("sha256", "")
    model_file = metrics.get("model_file", "fashion_mnist.h5")

    table = ["| id | Class | Precision | Recall | F1 | Support |", "|---:|---|---:|---:|---:|---:|"]
    table += [f"| {s['id']} | {s['label']} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | "
              f"{s['support']} |" for s in scores]
    worst = sorted(scores, key=lambda s: s["f1"])[:3]
    confusions = largest_confusions(cm, names)
    confusion_lines = [f"- true **{c['true']}** predicted as **{c['predicted']}**: {c['count']} images "
                       f"({_pct(c['share_of_true'], 1)} of that class)" for c in confusions]

    lines = [
        "# Model card: Fashion-MNIST clothing classifier",
        "",
        f"_Generated by `training/evaluate.py` on {date} from `{METRICS_FILE}`; re-run it after retraining._",
        "",
        "## Model details",
        "",
        *_serving_lines(metrics),
        f"- **sha256** of `{model_file}`: `{sha}` (checked by the server before it loads either file)",
        f"- **Parameters**: {params_text} (including the batch-norm moving statistics)",
        "- **Type**: image classification, 10 classes; output = softmax probabilities",
        f"- **License**: {config.MODEL_LICENSE} (model and code); training data MIT",
        f"- **Date**: evaluated {date}",
        "",
        _capitalised(architecture_summary(training)),
        "",
        *_architecture_lines(training),
        "",
        "Training (`training/train.py`, defaults):",
        "",
        *_training_lines(training),
        "",
        "## Intended use",
        "",
        "- Classifying a single image of one clothing item into one of the ten Fashion-MNIST classes: "
        + ", ".join(names) + ".",
        "- Inputs that look like Fashion-MNIST (28×28 grayscale, centred item, dark background) give the "
        "accuracy reported below.",
        "- Other pictures (photos, product shots) are accepted: the service separates the garment from its "
        "background, crops it and makes it look like a Fashion-MNIST image (`core/images.py`, "
        "`core/foreground.py`); see Photo-like images for the accuracy that keeps.",
        "- Demonstrations, teaching, and as a template for a MAX-style model service.",
        "",
        "## Out-of-scope use",
        "",
        "- Images of several items, people wearing clothes, cluttered backgrounds, or items outside the ten "
        "classes: the model always answers one of the ten classes, with no \"none of these\" option.",
        "- Decisions about people, or any use where a wrong class has real consequences.",
        "- Fine-grained attributes (colour, material, brand, size): the model sees only 28×28 grayscale.",
        "",
        "## Training data",
        "",
        "[Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist) (Xiao, Rasul & Vollgraf, 2017, "
        "*Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms*, arXiv:1708.07747), "
        "© Zalando SE, MIT license: 70 000 28×28 grayscale images of Zalando article photos, 10 balanced "
        "classes, split into 60 000 training and 10 000 test images. The standard IDX files are read by "
        "`training/dataset.py`.",
        "",
        "## Evaluation",
        "",
        f"Official test set, {_thousands(metrics['test_images'])} images, never seen in training or model selection. "
        "Evaluated through the server's own code path (`core.model.ModelWrapper.predict_batch`). The figures, "
        f"per-class table and confusion matrix were {_figures_origin_text(metrics)}"
        + ("; the runtime table compares the runtimes." if len(runtime_sections(metrics)) > 1 else "."),
        "",
        f"- **Top-1 accuracy**: {metrics['test_accuracy']:.4f} ({_pct(metrics['test_accuracy'])})",
        f"- **Macro F1**: {metrics['macro_f1']:.4f}",
        *([f"- **With flip averaging** (`TTA_FLIP=true`): {_pct(metrics['test_accuracy_flip_averaging'])} "
           "top-1 (see Test-time augmentation)"] if metrics.get("test_accuracy_flip_averaging") is not None else []),
        *agreement_lines(metrics),
        "",
        *runtime_accuracy_lines(metrics),
        *([""] if runtime_sections(metrics) else []),
        *table,
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "Rows are the true class, columns the predicted class.",
        "",
        "## Photo-like images",
        "",
        *_photo_like_lines(metrics),
        "",
        "## Calibration",
        "",
        *_calibration_lines(metrics),
        "",
        "## Speed on the CPU",
        "",
        *_speed_lines(metrics),
        "",
        "## Test-time augmentation",
        "",
        *_tta_lines(metrics),
        "",
        "## Targets",
        "",
        *_target_lines(metrics),
        "",
        "## Limitations",
        "",
        "- The upper-body garments are the hard part of Fashion-MNIST: Shirt, T-shirt/top, Pullover and Coat "
        "look alike at 28×28. Lowest F1: "
        + ", ".join(f"{s['label']} ({s['f1']:.4f})" for s in worst) + ".",
        "- Largest confusions on the test set:",
        *[f"  {line}" for line in confusion_lines],
        "- Trained on centred, isolated product images on a plain background; off-centre, rotated, partly "
        "visible or upside-down items are likely to be misclassified.",
        "- Probabilities come from a label-smoothed softmax; the Calibration section gives how far they are "
        "from observed frequencies on the test set.",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "python training/train.py        # add --data-dir DIR if the IDX files are elsewhere",
        "python training/export_onnx.py  # the int8 ONNX export of the Keras file, and its sha256",
        "python training/evaluate.py     # writes assets/model_metrics.json, confusion_matrix.png, MODEL_CARD.md",
        "```",
        "",
        "The dataset directory defaults to `$FASHION_MNIST_DIR`, then `../shared/datasets/fashion-mnist`, then "
        "`~/.keras/datasets/fashion-mnist`. Training is not guaranteed to be bit-for-bit reproducible "
        "(TensorFlow threading), so a retrained model may have a different sha256 and slightly different "
        "figures; the server only reports "
        f"`{METRICS_FILE}` when its sha256 matches the model file, and ONNX Runtime's figures only when the "
        "export's sha256 matches too (a re-export may quantize slightly differently).",
        "",
        f"Evaluation command for these figures: `{metrics.get('command', 'python training/evaluate.py')}`",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plotting

def confusion_title(metrics: dict) -> str:
    """Two lines, so the runtime the matrix was measured with fits above it."""
    return (f"Fashion-MNIST test set ({_thousands(metrics['test_images'])} images), accuracy "
            f"{_pct(metrics['test_accuracy'])}\n{_figures_runtime_text(metrics)}")


def plot_confusion_matrix(cm: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> None:
    """Annotated heat map (rows true, columns predicted), colour = share of the true class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    share = _safe_ratio(cm, cm.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(8, 7), dpi=100)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("share of the true class")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels=labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=labels)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    if title:
        ax.set_title(title)
    for row in range(cm.shape[0]):
        for col in range(cm.shape[1]):
            count = int(cm[row, col])
            colour = "white" if share[row, col] > 0.5 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=colour,
                    fontsize=9, fontweight="bold" if row == col else "normal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- model-dependent steps

def predict_probabilities(wrapper: ModelWrapper, images: np.ndarray,
                          batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """(N, 10) probabilities of every image, through ModelWrapper.predict_batch as the server calls it."""
    from core.model import to_model_batch

    chunks = [wrapper.predict_batch(to_model_batch(images[start:start + batch_size]))
              for start in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), dtype=np.float32)


def predict_labels(wrapper: ModelWrapper, images: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Arg-max class of every image, through ModelWrapper.predict_batch as the server calls it."""
    return np.argmax(predict_probabilities(wrapper, images, batch_size), axis=1)


def measure_latency(wrapper: ModelWrapper, images: np.ndarray, batch_size: int, repeats: int,
                    warmup: int = LATENCY_WARMUP_CALLS) -> dict:
    """Wall time of predict_batch(to_model_batch(batch)), the server's model call, after warm-up calls.

    Median and p90 rather than the mean, so one descheduled call does not move the figure.
    """
    from core.model import to_model_batch

    if not 1 <= batch_size <= len(images) or repeats < 1:
        raise ValueError(f"batch_size {batch_size} and repeats {repeats} for {len(images)} images")
    span = len(images) - batch_size + 1
    timings = []
    for call in range(warmup + repeats):
        start = (call * batch_size) % span  # a different slice each call, like successive requests
        batch = images[start:start + batch_size]
        began = time.perf_counter()
        wrapper.predict_batch(to_model_batch(batch))
        if call >= warmup:
            timings.append(time.perf_counter() - began)
    per_call = np.asarray(timings) * 1000.0
    median, p90 = float(np.median(per_call)), float(np.percentile(per_call, 90))
    return {"batch_size": batch_size, "repeats": repeats,
            "median_ms_per_call": round(median, DECIMALS), "p90_ms_per_call": round(p90, DECIMALS),
            "median_ms_per_image": round(median / batch_size, DECIMALS),
            "p90_ms_per_image": round(p90 / batch_size, DECIMALS)}


def serving_latency(wrapper: ModelWrapper, images: np.ndarray) -> dict:
    """The latency_ms document: batch 1 per call, batch 64 per image, and the settings they depend on."""
    one = measure_latency(wrapper, images, 1, LATENCY_REPEATS_BATCH_1)
    many = measure_latency(wrapper, images, LATENCY_BATCH, LATENCY_REPEATS_BATCH_64)
    return {"batch_1": one["median_ms_per_call"], "batch_1_p90": one["p90_ms_per_call"],
            "batch_64_per_image": many["median_ms_per_image"], "batch_64_per_image_p90": many["p90_ms_per_image"],
            "intra_op_threads": config.INTRA_OP_THREADS, "inter_op_threads": config.INTER_OP_THREADS,
            "cpu_count": os.cpu_count()}


def evaluate_configuration(wrapper: ModelWrapper, images: np.ndarray, labels: np.ndarray,
                           batch_size: int) -> Measurement:
    """Probabilities, confusion matrix, ECE and latency of one serving configuration."""
    return measurement(predict_probabilities(wrapper, images, batch_size), labels, serving_latency(wrapper, images))


class RuntimeRun(NamedTuple):
    """One runtime measured without and with flip averaging, and the file it ran."""
    model_file: str
    sha256: str  # of the file the runtime ran: the ONNX export for ONNX Runtime
    keras_sha256: str  # of the Keras file, verified by the wrapper: the whole document is keyed by it
    plain: Measurement
    flipped: Measurement


def measure_runtime(runtime: str, model: Path, checksum: Path, onnx_model: Path, onnx_checksum: Path,
                    metrics_path: Path, images: np.ndarray, labels: np.ndarray, batch_size: int) -> RuntimeRun:
    """Both flip settings of one runtime, one network in memory at a time, micro-batching off.

    The wrapper verifies the sha256 (and, for ONNX Runtime, that the export was made from this Keras file)
    before loading, so the figures belong to exactly these files. It also reads the old metrics file and may
    warn that it does not match: that is what this run fixes.
    """
    from core.model import ModelWrapper

    measured = []
    for flip_averaging in (False, True):
        wrapper = ModelWrapper(model, checksum, metrics_path, flip_averaging=flip_averaging, max_batch_size=1,
                               runtime=runtime, onnx_path=onnx_model, onnx_checksum_path=onnx_checksum)
        if wrapper.runtime != runtime:
            raise RuntimeError(f"asked for {runtime}, got {wrapper.runtime}")
        keras_sha256 = wrapper.sha256
        model_file, file_sha256 = ((onnx_model.name, wrapper.onnx_sha256) if runtime == "onnxruntime"
                                   else (model.name, wrapper.sha256))
        logger.info("measuring %s%s", runtime, " with flip averaging" if flip_averaging else "")
        measured.append(evaluate_configuration(wrapper, images, labels, batch_size))
        del wrapper  # one network in memory at a time
    return RuntimeRun(model_file, file_sha256, keras_sha256, *measured)


def runtime_version(runtime: str) -> str:
    """For the card: latency figures only mean something next to the runtime that produced them."""
    if runtime == "onnxruntime":
        import onnxruntime

        return str(onnxruntime.__version__)
    import tensorflow as tf

    return str(tf.__version__)


def count_parameters(model_path: Path) -> int:
    """Total weights of the network (trainable and not), read with Keras from the verified file."""
    import keras

    return int(keras.models.load_model(model_path, compile=False).count_params())


def training_defaults() -> dict:
    """train.py's flag defaults: the settings that produced the shipped model, for the model card."""
    from training.train import parse_args

    return {k: v for k, v in vars(parse_args([])).items() if k not in ("data_dir", "output", "history")}


def build_metrics(cm: np.ndarray, sha256: str, model_path: Path, parameters: int, command: str) -> dict:
    """The model_metrics.json document, in the shape core.metrics and the API expect."""
    scores = per_class_scores(cm)
    return {
        "sha256": sha256,
        "model_file": Path(model_path).name,
        "test_accuracy": round(accuracy(cm), DECIMALS),
        "test_images": int(np.asarray(cm).sum()),
        "macro_f1": round(macro_f1(cm), DECIMALS),
        "per_class": scores,
        "confusion_matrix": np.asarray(cm).astype(int).tolist(),
        "parameters": int(parameters),
        "evaluated_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "command": command,
    }


def metrics_to_json(metrics: dict) -> str:
    """Indented JSON, but each confusion-matrix row on one line so the file stays readable."""
    text = json.dumps(metrics, indent=2)
    return re.sub(r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    parser.add_argument("--model", type=Path, default=config.MODEL_PATH, help="the .h5 model to evaluate")
    parser.add_argument("--checksum", type=Path, default=None,
                        help="its sha256 file (default: the model path + '.sha256')")
    parser.add_argument("--onnx-model", type=Path, default=config.ONNX_MODEL_PATH,
                        help="the int8 ONNX export of --model that ONNX Runtime runs (training/export_onnx.py)")
    parser.add_argument("--onnx-checksum", type=Path, default=None,
                        help="its sha256 file (default: the ONNX path + '.sha256')")
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIME_ORDER, default=list(RUNTIME_ORDER),
                        help="runtimes to measure (default: both); the first of %(choices)s measured gives the "
                             "top-level figures")
    parser.add_argument("--output-dir", type=Path, default=config.MODEL_METRICS_PATH.parent,
                        help=f"where {METRICS_FILE}, {CONFUSION_PNG} and {MODEL_CARD_FILE} are written")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    return parser.parse_args(argv)


def _verdict(target: dict) -> str:
    return "PASS" if target["pass"] else "FAIL"


def summary_lines(metrics: dict) -> list[str]:
    """The human-readable end-of-run summary: headline figures, then PASS/FAIL per target."""
    latency, tta = metrics.get("latency_ms") or {}, metrics.get("latency_ms_flip_averaging") or {}
    lines = [
        f"test accuracy {metrics['test_accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}, "
        f"ECE {metrics.get('expected_calibration_error', float('nan')):.4f} on {metrics['test_images']} images; "
        f"{_thousands(metrics['parameters'])} parameters; sha256 {metrics['sha256']}",
        *[f"  {s['label']:<12} precision {s['precision']:.4f}  recall {s['recall']:.4f}  f1 {s['f1']:.4f}  "
          f"support {s['support']}" for s in metrics["per_class"]],
        f"latency: batch 1 {_ms(latency.get('batch_1'))} ms/call (p90 {_ms(latency.get('batch_1_p90'))}), "
        f"batch {LATENCY_BATCH} {_ms(latency.get('batch_64_per_image'))} ms/image "
        f"(p90 {_ms(latency.get('batch_64_per_image_p90'))}); {latency.get('cpu_count')} CPUs, "
        f"intra/inter-op threads {latency.get('intra_op_threads')}/{latency.get('inter_op_threads')}",
    ]
    if metrics.get("test_accuracy_flip_averaging") is not None:
        lines.append(
            f"flip averaging (TTA_FLIP=true): accuracy {metrics['test_accuracy_flip_averaging']:.4f}, "
            f"ECE {metrics.get('expected_calibration_error_flip_averaging', float('nan')):.4f}, "
            f"batch 1 {_ms(tta.get('batch_1'))} ms/call ({_ratio(tta.get('batch_1'), latency.get('batch_1'))}), "
            f"batch {LATENCY_BATCH} {_ms(tta.get('batch_64_per_image'))} ms/image "
            f"({_ratio(tta.get('batch_64_per_image'), latency.get('batch_64_per_image'))})")
    for name, section in runtime_sections(metrics).items():
        plain, flipped = section.get("latency_ms") or {}, section.get("latency_ms_flip_averaging") or {}
        lines.append(
            f"{name} ({section.get('model_file')}): accuracy {_four(section.get('test_accuracy'))}, "
            f"ECE {_four(section.get('expected_calibration_error'))}, batch 1 {_ms(plain.get('batch_1'))} ms/call, "
            f"batch {LATENCY_BATCH} {_ms(plain.get('batch_64_per_image'))} ms/image; flip averaging: accuracy "
            f"{_four(section.get('test_accuracy_flip_averaging'))}, batch 1 {_ms(flipped.get('batch_1'))} ms/call, "
            f"batch {LATENCY_BATCH} {_ms(flipped.get('batch_64_per_image'))} ms/image")
    if agreement := metrics.get("runtime_agreement"):
        flipped = agreement.get("flip_averaging") or {}
        lines.append(f"top-1 agreement {' vs '.join(agreement['between'])}: {agreement['top1']:.4f} "
                     f"({agreement['disagreements']} of {agreement['images']} images differ), flip averaging "
                     f"{_four(flipped.get('top1'))} ({flipped.get('disagreements')} differ); largest probability "
                     f"difference {agreement['max_probability_difference']:.4f}")
    targets = metrics.get("targets") or {}
    lines += [f"target {name} {t['comparison']} {_target_value(key, t['limit'])}: "
              f"measured {_target_value(key, t['measured'])} -> {_verdict(t)}"
              for key, name, _, _ in TARGETS if (t := targets.get(key))]
    return lines


def use_every_core_unless_told() -> None:
    """The model's own latency on the whole machine, as one worker would serve it: the server's default
    shares the cores out between its workers, which would report one worker's share instead."""
    if "INTRA_OP_THREADS" not in os.environ:
        config.INTRA_OP_THREADS = os.cpu_count() or 1


def main(argv: list[str] | None = None) -> dict:
    """Evaluate, write the three files, log a summary; returns the metrics document.

    Missed targets are reported as FAIL in the summary and the card; the exit code stays 0.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    checksum = args.checksum or args.model.with_name(args.model.name + ".sha256")
    metrics_path = args.output_dir / METRICS_FILE
    started = time.perf_counter()

    use_every_core_unless_told()
    from training.dataset import load_split

    images, labels = load_split("test", args.data_dir)
    onnx_checksum = args.onnx_checksum or args.onnx_model.with_name(args.onnx_model.name + ".sha256")
    runs = {runtime: measure_runtime(runtime, args.model, checksum, args.onnx_model, onnx_checksum, metrics_path,
                                     images, labels, args.batch_size)
            for runtime in ordered_runtimes(args.runtimes)}
    measured_seconds = time.perf_counter() - started

    default = next(iter(runs.values()))
    sha256 = default.keras_sha256
    command = shlex.join(["python", "training/evaluate.py", *argv])
    sections = {name: runtime_section(name, run.model_file, run.sha256, run.plain, run.flipped,
                                      runtime_version(name)) for name, run in runs.items()}
    agreement = runtime_agreement({name: (run.plain, run.flipped) for name, run in runs.items()})
    metrics = with_runtimes(build_metrics(default.plain.cm, sha256, args.model, count_parameters(args.model),
                                          command), sections, agreement)
    photo_like = read_photo_like_metrics(args.output_dir / PHOTO_LIKE_FILE, sha256)
    if photo_like:
        metrics["photo_like"] = photo_like

    args.output_dir.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(metrics_to_json(metrics))
    plot_confusion_matrix(default.plain.cm, CLASS_NAMES, args.output_dir / CONFUSION_PNG,
                          title=confusion_title(metrics))
    (args.output_dir / MODEL_CARD_FILE).write_text(render_model_card(metrics, training_defaults()))

    elapsed = time.perf_counter() - started
    logger.info("%s", "\n".join(
        [*summary_lines(metrics),
         f"wrote {METRICS_FILE}, {CONFUSION_PNG}, {MODEL_CARD_FILE} to {args.output_dir} "
         f"(load + measurements {measured_seconds:.1f} s, total {elapsed:.1f} s)"]))
    return metrics


if __name__ == "__main__":
    main()
