"""Measure the shipped model on the official Fashion-MNIST test set, through the server's own code path.

Usage: python training/evaluate.py [--data-dir D] [--model PATH] [--checksum PATH] [--output-dir assets]

The model is loaded by core.model.ModelWrapper (sha256 verified, traced tf.function) and fed with
core.model.to_model_batch, exactly as the server does, so the figures describe what the API serves.
Writes into the output directory:
  model_metrics.json    the figures, keyed by the model file's sha256 (the server trusts them only for that file)
  confusion_matrix.png  the 10x10 test-set confusion matrix
  MODEL_CARD.md         a model card built from the figures
TensorFlow, Keras and matplotlib are imported inside the functions that need them, so the pure
functions (confusion_matrix, per_class_scores, render_model_card, ...) import cheaply in tests.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np

import config
from core.labels import CLASS_NAMES, NUM_CLASSES
from training.dataset import add_data_dir_argument

logger = logging.getLogger("training.evaluate")

METRICS_FILE = "model_metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
MODEL_CARD_FILE = "MODEL_CARD.md"
DEFAULT_BATCH_SIZE = 500
DECIMALS = 4
TOP_CONFUSIONS = 6


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


# --------------------------------------------------------------------------- model card (pure text)

def _pct(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f} %"


def _thousands(value: int) -> str:
    """10000 → '10 000', the SI way of grouping digits used throughout the card."""
    return f"{value:,}".replace(",", " ")


def _architecture_lines(training: dict | None) -> list[str]:
    """Layer-by-layer description from training/architecture.py, with the widths train.py used."""
    t = training or {}
    width, dense, dropout = t.get("width", 32), t.get("dense_units", 256), t.get("dropout", 0.25)
    return [
        "- Input: 28×28×1 grayscale, scaled to [0, 1] (light garment on a dark background).",
        f"- Block 1: 2 × [Conv 3×3, {width} filters, no bias → BatchNorm → ReLU] → MaxPool 2×2 → Dropout {dropout}.",
        f"- Block 2: 2 × [Conv 3×3, {width * 2} filters, no bias → BatchNorm → ReLU] → MaxPool 2×2 "
        f"→ Dropout {dropout}.",
        f"- Head: Flatten ({7 * 7 * width * 2}) → Dense {dense} (no bias) → BatchNorm → ReLU "
        f"→ Dropout {round(dropout * 2, 4)} → Dense 10 softmax.",
    ]


def _training_lines(training: dict | None) -> list[str]:
    if not training:
        return ["- See `training/train.py`; its flag defaults are the settings that produced the shipped model."]
    t = training
    return [
        f"- Optimizer: AdamW, peak learning rate {t['learning_rate']}, decoupled weight decay {t['weight_decay']}, "
        f"cosine decay to 0 over {t['epochs']} epochs, batch size {t['batch_size']}.",
        f"- Loss: categorical cross-entropy with label smoothing {t['label_smoothing']}.",
        f"- Augmentation: random shift of up to ±{t['max_shift']} px (pad + random crop) and left-right flip "
        "(never up-down).",
        f"- Model selection: {_thousands(t['val_size'])} images carved from the 60 000 training images "
        "(seeded permutation) form a validation split; the epoch with the best validation accuracy is kept. "
        "The test set is never used for training or selection.",
        f"- Seed: {t['seed']} (`keras.utils.set_random_seed`; CPU results may still vary in the last digits).",
    ]


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
        f"- **File**: `{model_file}` (Keras HDF5, shipped in `assets/`)",
        f"- **sha256**: `{sha}` (checked by the server before it loads the file)",
        f"- **Parameters**: {params_text} (including the batch-norm moving statistics)",
        "- **Type**: image classification, 10 classes; output = softmax probabilities",
        f"- **License**: {config.MODEL_LICENSE} (model and code); training data MIT",
        f"- **Date**: evaluated {date}",
        "",
        "A small VGG-style convolutional network (`training/architecture.py`): two double-convolution "
        "blocks with batch normalisation, then a dense head with dropout.",
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
        "- Other pictures (photos, product shots) are accepted: the service decodes them, converts to grayscale, "
        "inverts a light background and fits the image into 28×28 (`core/images.py`). This simple "
        "pre-processing does not crop, segment or denoise, so accuracy on real photos is lower than on the "
        "test set and is not measured here.",
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
        "Evaluated through the server's own code path (`core.model.ModelWrapper.predict_batch`).",
        "",
        f"- **Top-1 accuracy**: {metrics['test_accuracy']:.4f} ({_pct(metrics['test_accuracy'])})",
        f"- **Macro F1**: {metrics['macro_f1']:.4f}",
        "",
        *table,
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "Rows are the true class, columns the predicted class.",
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
        "- Probabilities are from a label-smoothed softmax: useful for ranking, not calibrated confidences.",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "python training/train.py        # add --data-dir DIR if the IDX files are elsewhere",
        "python training/evaluate.py     # writes assets/model_metrics.json, confusion_matrix.png, MODEL_CARD.md",
        "```",
        "",
        "The dataset directory defaults to `$FASHION_MNIST_DIR`, then `../shared/datasets/fashion-mnist`, then "
        "`~/.keras/datasets/fashion-mnist`. Training is not guaranteed to be bit-for-bit reproducible "
        "(TensorFlow threading), so a retrained model may have a different sha256 and slightly different "
        "figures; the server only reports "
        f"`{METRICS_FILE}` when its sha256 matches the model file.",
        "",
        f"Evaluation command for these figures: `{metrics.get('command', 'python training/evaluate.py')}`",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plotting

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

def predict_labels(wrapper, images: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Arg-max class of every image, through ModelWrapper.predict_batch as the server calls it."""
    from core.model import to_model_batch

    predictions = []
    for start in range(0, len(images), batch_size):
        probabilities = wrapper.predict_batch(to_model_batch(images[start:start + batch_size]))
        predictions.append(np.argmax(probabilities, axis=1))
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


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
    parser.add_argument("--output-dir", type=Path, default=config.MODEL_METRICS_PATH.parent,
                        help=f"where {METRICS_FILE}, {CONFUSION_PNG} and {MODEL_CARD_FILE} are written")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Evaluate, write the three files, log a summary; returns the metrics document."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    checksum = args.checksum or args.model.with_name(args.model.name + ".sha256")
    started = time.perf_counter()

    from core.model import ModelWrapper
    from training.dataset import load_split

    images, labels = load_split("test", args.data_dir)
    # The wrapper verifies the sha256 before loading, so the figures belong to exactly this file. It also
    # reads the old metrics file and may warn that it does not match: that is what this run fixes.
    wrapper = ModelWrapper(args.model, checksum, args.output_dir / METRICS_FILE)
    predicted = predict_labels(wrapper, images, args.batch_size)
    cm = confusion_matrix(labels, predicted, NUM_CLASSES)
    inference_seconds = time.perf_counter() - started

    command = shlex.join(["python", "training/evaluate.py", *argv])
    metrics = build_metrics(cm, wrapper.sha256, args.model, count_parameters(args.model), command)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / METRICS_FILE).write_text(metrics_to_json(metrics))
    plot_confusion_matrix(cm, CLASS_NAMES, args.output_dir / CONFUSION_PNG,
                          title=f"Fashion-MNIST test set ({_thousands(metrics['test_images'])} images), "
                                f"accuracy {_pct(metrics['test_accuracy'])}")
    (args.output_dir / MODEL_CARD_FILE).write_text(render_model_card(metrics, training_defaults()))

    elapsed = time.perf_counter() - started
    summary = "\n".join(
        [f"test accuracy {metrics['test_accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f} "
         f"on {metrics['test_images']} images; {_thousands(metrics['parameters'])} parameters; "
         f"sha256 {metrics['sha256']}"]
        + [f"  {s['label']:<12} precision {s['precision']:.4f}  recall {s['recall']:.4f}  f1 {s['f1']:.4f}  "
           f"support {s['support']}" for s in metrics["per_class"]]
        + [f"wrote {METRICS_FILE}, {CONFUSION_PNG}, {MODEL_CARD_FILE} to {args.output_dir} "
           f"(load + inference {inference_seconds:.1f} s, total {elapsed:.1f} s)"])
    logger.info("%s", summary)
    return metrics


if __name__ == "__main__":
    main()
