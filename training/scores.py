"""The evaluation's figures from predicted probabilities: pure functions of arrays, no model, no files.

scikit-learn computes what it has (confusion matrix, accuracy, precision/recall/F1); what it lacks is here:
expected calibration error, the largest confusions, how often two runtimes agree, and the photo scores,
where a folder may accept several classes (any footwear is right for "shoes").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from training.photos import ALL_FOLDER_CLASSES, is_right

DECIMALS = 4
ECE_BINS = 15
TOP_CONFUSIONS = 6


def _rounded(value: float) -> float:
    return round(float(value), DECIMALS)


def top1(probabilities: np.ndarray) -> np.ndarray:
    """The predicted class of every row."""
    return np.argmax(np.asarray(probabilities), axis=1)


def confusion(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows the true class, columns the predicted one, every class present."""
    return confusion_matrix(y_true, y_pred, labels=list(range(classes)))


def per_class_scores(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, names: Sequence[str]
) -> list[dict]:
    """Precision, recall, F1 and support of every class; a class never predicted scores 0, not NaN."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(names))), zero_division=0
    )
    return [
        {
            "id": i,
            "label": name,
            "precision": _rounded(precision[i]),
            "recall": _rounded(recall[i]),
            "f1": _rounded(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    ]


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    return _rounded(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0


def macro_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, classes: int) -> float:
    """Unweighted mean of the per-class F1: every class counts the same, however many images it has."""
    return _rounded(f1_score(y_true, y_pred, labels=list(range(classes)), average="macro", zero_division=0))


def expected_calibration_error(
    probabilities: np.ndarray, labels: Sequence[int] | np.ndarray, bins: int = ECE_BINS
) -> float:
    """Top-1 ECE: |accuracy - mean confidence| per equal-width confidence bin, weighted by the bin's share.

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
    correct = (top1(probabilities) == labels).astype(np.float64)
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence, side="left")
    # sum over bins of (n_b / N) * |acc_b - conf_b|  ==  sum of |correct_b - confidence_b| / N
    gaps = np.abs(np.bincount(which, correct, bins) - np.bincount(which, confidence, bins))
    return float(gaps.sum() / labels.size)


def largest_confusions(cm: np.ndarray, names: Sequence[str], k: int = TOP_CONFUSIONS) -> list[dict]:
    """The k largest off-diagonal cells, largest first: where the model goes wrong most often."""
    cm = np.asarray(cm, dtype=np.int64)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    cells = [np.unravel_index(i, cm.shape) for i in order]
    return [
        {
            "true": names[t],
            "predicted": names[p],
            "count": int(cm[t, p]),
            "share_of_true": _rounded(cm[t, p] / cm[t].sum()),
        }
        for t, p in cells
        if off[t, p] > 0
    ]


def runtime_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """The figures that compare serving configurations: accuracy, macro F1 and ECE."""
    predicted, classes = top1(probabilities), np.asarray(probabilities).shape[1]
    return {
        "test_accuracy": accuracy(labels, predicted),
        "macro_f1": macro_f1(labels, predicted, classes),
        "expected_calibration_error": _rounded(expected_calibration_error(probabilities, labels)),
    }


def fashion_mnist_report(probabilities: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict:
    """Everything the card shows about the test set for one configuration, per class included."""
    predicted = top1(probabilities)
    cm = confusion(labels, predicted, len(names))
    return {
        **runtime_scores(probabilities, labels),
        "calibration_bins": ECE_BINS,
        "test_images": len(labels),
        "per_class": per_class_scores(labels, predicted, names),
        "confusion_matrix": cm.tolist(),
        "largest_confusions": largest_confusions(cm, names),
    }


def top1_agreement(first: np.ndarray, second: np.ndarray) -> dict:
    """How often two runtimes give an image the same class, and their largest probability difference.

    Accuracy alone could hide int8 quantization changing answers both ways; agreement counts every image
    whose answer changed. Nothing to compare agrees trivially (share 1.0).
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.ndim != 2 or first.shape != second.shape:
        raise ValueError(f"probabilities of shapes {first.shape} and {second.shape}")
    images = len(first)
    same = int((top1(first) == top1(second)).sum()) if images else 0
    return {
        "images": images,
        "top1": _rounded(same / images) if images else 1.0,
        "disagreements": images - same,
        "max_probability_difference": _rounded(np.abs(first - second).max()) if images else 0.0,
    }


def photo_accuracy(probabilities: np.ndarray, allowed: np.ndarray) -> float | None:
    """Share of photos whose top-1 class is one the folder accepts (None: no photo)."""
    return _rounded(is_right(probabilities, allowed).mean()) if len(allowed) else None


def standard_error(right: np.ndarray) -> float | None:
    """The binomial standard error of an accuracy, sqrt(p (1 - p) / n): how far it may move by chance alone."""
    count = len(right)
    if not count:
        return None
    share = float(np.mean(right))
    return _rounded(np.sqrt(share * (1.0 - share) / count))


def photo_report(probabilities: np.ndarray, allowed: np.ndarray, folders: np.ndarray, names: Sequence[str]) -> dict:
    """Accuracy overall and per folder (with standard errors), and the folder × predicted-class counts, folders
    in ALL_FOLDER_CLASSES order.

    A folder's allowed classes are read from the photos' own masks, the rule they were judged by: all the classes
    any of its photos allows, and `per_photo` when its photos allow different ones (shoes labelled by kind).
    """
    right, predicted, folders = is_right(probabilities, allowed), top1(probabilities), np.asarray(folders)
    rows, confusion_rows = [], []
    for folder in (f for f in ALL_FOLDER_CLASSES if f in set(folders.tolist())):
        members = folders == folder
        masks = allowed[members]
        accepted = np.flatnonzero(masks.any(axis=0))
        rows.append(
            {
                "folder": folder,
                "photos": int(members.sum()),
                "correct": int(right[members].sum()),
                "accuracy": _rounded(right[members].mean()),
                "standard_error": standard_error(right[members]),
                "allowed": [names[i] for i in accepted],
                "allowed_ids": accepted.tolist(),
                "per_photo": bool((masks != masks[0]).any()),
            }
        )
        confusion_rows.append(
            {"folder": folder, "counts": np.bincount(predicted[members], minlength=len(names)).tolist()}
        )
    return {
        "photos": len(folders),
        "correct": int(right.sum()),
        "accuracy": photo_accuracy(probabilities, allowed),
        "standard_error": standard_error(right),
        "folders": rows,
        "confusion": {"classes": list(names), "rows": confusion_rows},
    }
